export declare const E2EE_AVAILABLE: false;
export declare const E2EE_UNAVAILABLE_REASON: string;
export declare class OlmMachine {}
export declare class UserId {}
export declare class DeviceId {}
export declare class RoomId {}
export declare class DeviceLists {}
export declare class EncryptionSettings {}
export declare class EncryptedAttachment {}
export declare class Attachment {}
export declare const StoreType: { readonly Sled: 0; readonly Sqlite: 1 };
