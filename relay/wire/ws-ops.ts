/**
 * Sent with the WebSocket upgrade's answer: the operations beyond watch, unwatch and post that
 * this relay takes over the socket. A client creates and deletes mailboxes, and adds and revokes
 * an inbox's writers, over the socket only when the relay names the op here (a relay without it
 * answers those ops `bad_request`), else over HTTP. `post_after`: a post may name an earlier one
 * of the socket in `after`, and is then stored only after it (a relay without it ignores `after`,
 * so a client sends it only when named here).
 */
export const WS_OPS_HEADER = 'x-pairlink-ws-ops';
export const WS_EXTRA_OPS = 'create delete add_writer revoke_writer revoke_writers post_after';

/** The most writers one revoke_writers op names (an inbox owner's revocations, batched). */
export const MAX_REVOKED_PER_OP = 64;
