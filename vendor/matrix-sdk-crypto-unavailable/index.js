// pairlink's stand-in for @matrix-org/matrix-sdk-crypto-nodejs (see README.md here). matrix-bot-sdk
// requires the real package when it loads, but only uses it when a crypto store is configured,
// which pairlink never does. Every entry point throws, so nothing can quietly pretend to encrypt.

const REASON =
  'end-to-end encryption is unavailable: this build of pairlink does not include the native ' +
  '@matrix-org/matrix-sdk-crypto-nodejs library, so encrypted rooms are not supported';

function unavailable() {
  throw new Error(REASON);
}

function stand(name) {
  const Class = class {
    constructor() {
      unavailable();
    }
  };
  Object.defineProperty(Class, 'name', { value: name });
  return Class;
}

exports.E2EE_AVAILABLE = false;
exports.E2EE_UNAVAILABLE_REASON = REASON;
for (const name of [
  'OlmMachine',
  'UserId',
  'DeviceId',
  'RoomId',
  'DeviceLists',
  'EncryptionSettings',
  'EncryptedAttachment',
  'Attachment',
]) {
  exports[name] = stand(name);
}
exports.OlmMachine.initialize = unavailable;
exports.OlmMachine.withSledBackend = unavailable;
exports.Attachment.encrypt = unavailable;
exports.Attachment.decrypt = unavailable;
exports.StoreType = Object.freeze({ Sled: 0, Sqlite: 1 });
