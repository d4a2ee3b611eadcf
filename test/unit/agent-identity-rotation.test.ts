import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../../agent/agent-identity.js';
import {
  PREVIOUS_KEY_KEPT_SECONDS,
  ROTATION_STEPS,
  type RotationStep,
} from '../../agent/identity-rotation.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { decodeDeviceBundle, encodeDeviceBundle } from '../../src/handshake/device-bundle.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';

/**
 * AgentIdentity.rotate (PROTOCOL.md §11.6) on a real file keystore: the next key becomes the
 * current one, the old one is kept for the notice TTL, and a kill between any two writes leaves
 * the identity wholly before or wholly after the rotation once reopened.
 */
const NOW = 1_800_000_000;
const random = (length: number) => new Uint8Array(randomBytes(length));

class Killed extends Error {}

async function home() {
  const path = join(mkdtempSync(join(tmpdir(), 'pl-rotate-')), 'keystore.json');
  const open = async () => AgentIdentity.open(await FileKeystore.open(path, 'pass'), random);
  return { path, open };
}

describe('AgentIdentity.rotate', () => {
  it('reveals the committed key, commits to a new one, keeps the old one until the notice TTL is over', async () => {
    const { open } = await home();
    const self = await open();
    const before = { did: self.identity.did, commitment: self.nextKeyCommitment! };
    const steps: string[] = [];
    await self.rotate('scheduled', NOW, random, async (redo) => void steps.push(redo.reason));
    expect(steps).toEqual(['scheduled']);
    expect(self.identity.did).not.toBe(before.did);
    expect(nextKeyCommitment(self.identity.signing.publicKey)).toEqual(before.commitment);
    expect(self.nextKeyCommitment).not.toEqual(before.commitment);
    expect(self.previousIdentity?.did).toBe(before.did);
    const reopened = await open();
    expect(reopened.identity.did).toBe(self.identity.did);
    expect(reopened.nextKeyCommitment).toEqual(self.nextKeyCommitment);
    expect(reopened.previousIdentity?.did).toBe(before.did);
    expect(reopened.unfinishedRotation).toBeNull();
    await reopened.forgetPrevious(NOW + PREVIOUS_KEY_KEPT_SECONDS);
    expect(reopened.previousIdentity?.did).toBe(before.did);
    await reopened.forgetPrevious(NOW + PREVIOUS_KEY_KEPT_SECONDS + 1);
    expect(reopened.previousIdentity).toBeNull();
    expect((await open()).previousIdentity).toBeNull();
  });

  it.each(['beforeRedo', ...ROTATION_STEPS])(
    'a kill at %s leaves the identity wholly before or wholly after the rotation, the state step run once it is after',
    async (point) => {
      const { open } = await home();
      const self = await open();
      const before = { did: self.identity.did, commitment: self.nextKeyCommitment! };
      const stateSteps: string[] = [];
      const stateStep = async () => void stateSteps.push('state');
      const crash = (step: RotationStep) => {
        if (step === point) throw new Killed(step);
      };
      const run =
        point === 'beforeRedo'
          ? Promise.reject(new Killed(point))
          : self.rotate('compromised', NOW, random, stateStep, crash);
      await expect(run).rejects.toBeInstanceOf(Killed);
      const restarted = await open();
      await restarted.finishRotation(stateStep);
      const again = await open();
      expect(again.unfinishedRotation).toBeNull();
      if (point === 'beforeRedo') {
        expect(again.identity.did).toBe(before.did);
        expect(again.nextKeyCommitment).toEqual(before.commitment);
        expect(again.previousIdentity).toBeNull();
        expect(stateSteps).toEqual([]);
        return;
      }
      // After: the committed key is the identity, the old one is the previous, the state step ran.
      expect(nextKeyCommitment(again.identity.signing.publicKey)).toEqual(before.commitment);
      expect(again.previousIdentity?.did).toBe(before.did);
      expect(again.nextKeyCommitment).toEqual(restarted.nextKeyCommitment);
      expect(again.holdsNextKey).toBe(true);
      expect(stateSteps.length).toBeGreaterThanOrEqual(1);
      // And it rotates once more, onto the key it committed to at the first rotation.
      const committed = again.nextKeyCommitment!;
      await again.rotate('scheduled', NOW + 1, random, stateStep);
      expect(nextKeyCommitment(again.identity.signing.publicKey)).toEqual(committed);
    },
  );

  it('a device (no next key) refuses to rotate with NO_NEXT_KEY and hands the identity’s commitment', async () => {
    const owner = await (await home()).open();
    const device = await (await home()).open();
    const bundle = owner.context(NOW, () => 'laptop', random).deviceBundle!();
    await device.import(bundle);
    expect(device.identity.did).toBe(owner.identity.did);
    expect(device.holdsNextKey).toBe(false);
    expect(device.nextKeyCommitment).toEqual(owner.nextKeyCommitment);
    await expect(device.rotate('scheduled', NOW, random, async () => undefined)).rejects.toMatchObject({
      code: 'NO_NEXT_KEY',
    });
  });
});

describe('device bundles (PROTOCOL.md §6.8, version 2)', () => {
  it('carry the identity’s commitment and never its next key; a version 1 bundle imports without a commitment', async () => {
    const { path, open } = await home();
    const owner = await open();
    const nextSecrets = (await (await FileKeystore.open(path, 'pass')).get('next-identity'))!;
    const bundle = owner.context(NOW, () => 'laptop', random).deviceBundle!();
    const bytes = encodeDeviceBundle(bundle);
    expect(bytes[0]).toBe(2);
    expect(Buffer.from(bytes).includes(Buffer.from(nextSecrets.subarray(0, 32)))).toBe(false);
    expect(Buffer.from(bytes).includes(Buffer.from(nextSecrets.subarray(32, 64)))).toBe(false);
    const decoded = decodeDeviceBundle(bytes, owner.identity.signing.publicKey);
    expect(decoded.nextKeyCommitment).toEqual(owner.nextKeyCommitment);
    // A version 1 bundle (an issuer before rotation): imported, no commitment to hand.
    const v1 = Buffer.concat([
      Uint8Array.of(1),
      bundle.signingSeed,
      bundle.agreementSecret,
      Uint8Array.of(6),
      Buffer.from('laptop'),
    ]);
    const old = decodeDeviceBundle(v1, owner.identity.signing.publicKey);
    expect(old.nextKeyCommitment).toBeUndefined();
    const device = await (await home()).open();
    await device.import(old);
    expect(device.nextKeyCommitment).toBeNull();
    expect(device.holdsNextKey).toBe(false);
  });
});
