// Mint an invite, hand it on, wait until a second agent has paired, list the peers: with the
// typed client the package exports (`pairlink/client`). Run: node dist/examples/pair.js
import { connect } from 'pairlink/client';

const agent = await connect(); // the agent the CLI would talk to (README: "Which agent the CLI talks to")
const events = agent.events(); // subscribed before minting, so nothing is missed
const invite = await agent.createInvite({ label: 'typescript example' });
console.log(`invite ${invite.url}`); // hand this to the other side
for await (const { method, params } of events) {
  if (method !== 'invite.progress' || params.id !== invite.id) continue;
  if (params.status === 'paired') {
    console.log(`paired with ${params.peer?.name}`);
    break;
  }
  if (params.status === 'expired' || params.status === 'cancelled' || params.status === 'failed')
    throw new Error(`the invite ended: ${params.status}`);
}
console.log(JSON.stringify((await agent.listPeers()).map((p) => ({ did: p.did, name: p.name }))));
agent.close();
