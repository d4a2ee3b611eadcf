/**
 * Domain-separation labels. Every signature, KDF output and MAC in pairlink is bound to one of
 * these, so that a value made for one purpose can never be accepted for another. The version is
 * part of each label: a future protocol version gets fresh labels.
 */
export const LABELS = {
  cardSignature: 'pairlink/v1/card',
  inviteSignature: 'pairlink/v1/invite',
  inviteId: 'pairlink/v1/invite-id',
  urlMailbox: 'pairlink/v1/url/mailbox',
  urlWriteCapability: 'pairlink/v1/url/write-cap',
  urlSession: 'pairlink/v1/url/session',
  codeChannel: 'pairlink/v1/code',
  codeSession: 'pairlink/v1/code/session',
  codeInitiator: 'pairlink/v1/code/acceptor',
  codeResponder: 'pairlink/v1/code/issuer',
  keyAcceptorToIssuer: 'pairlink/v1/key/acceptor-to-issuer',
  keyIssuerToAcceptor: 'pairlink/v1/key/issuer-to-acceptor',
  keyConfirmAcceptor: 'pairlink/v1/key/confirm-acceptor',
  keyConfirmIssuer: 'pairlink/v1/key/confirm-issuer',
  keySas: 'pairlink/v1/key/sas',
  transcript: 'pairlink/v1/transcript',
  transcriptSigIssuerReply: 'pairlink/v1/transcript-sig/issuer-reply',
  transcriptSigAcceptor: 'pairlink/v1/transcript-sig/acceptor',
  transcriptSigIssuerWelcome: 'pairlink/v1/transcript-sig/issuer-welcome',
  fingerprint: 'pairlink/v1/fingerprint',
  /** A notice's signature (PROTOCOL.md §11.2). */
  noticeSignature: 'pairlink/v1/notice',
  /** The key a notice is sealed under, from its ephemeral share and the receiver's X25519 key. */
  noticeKey: 'pairlink/v1/notice/key',
  /** The pre-rotation commitment to an identity's next signing key (§11.6). */
  nextKey: 'pairlink/v1/next-key',
  /** Local only (never on the wire): an issuer session's ephemeral secret from its invite's seed. */
  issuerEphemeral: 'pairlink/v1/local/issuer-ephemeral',
} as const;
