import { PairlinkError } from '../errors.js';

/** Appends fixed-width big-endian integers and length-prefixed fields into one byte string. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xff)
      throw new RangeError(`u8 out of range: ${value}`);
    return this.raw(Uint8Array.of(value));
  }

  u16(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff)
      throw new RangeError(`u16 out of range: ${value}`);
    return this.raw(Uint8Array.of(value >>> 8, value & 0xff));
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`u32 out of range: ${value}`);
    }
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, value);
    return this.raw(out);
  }

  /** Exactly `size` bytes, checked so a wrong-length key can never be written. */
  fixed(bytes: Uint8Array, size: number): this {
    if (bytes.length !== size) throw new RangeError(`expected ${size} bytes, got ${bytes.length}`);
    return this.raw(bytes);
  }

  /** A u8 length prefix and up to 255 bytes. */
  short(bytes: Uint8Array): this {
    return this.u8(bytes.length).raw(bytes);
  }

  /** A u16 length prefix and up to 65535 bytes. */
  long(bytes: Uint8Array): this {
    return this.u16(bytes.length).raw(bytes);
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.length += bytes.length;
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

/**
 * Reads what ByteWriter wrote. Every read is bounds-checked and `end()` insists that nothing is
 * left over, so trailing garbage is an error rather than silently ignored.
 */
export class ByteReader {
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }

  u32(): number {
    const b = this.take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  fixed(size: number): Uint8Array {
    return this.take(size);
  }

  /** A u8-length-prefixed field no longer than `max`. */
  short(max: number): Uint8Array {
    const length = this.u8();
    if (length > max) throw new PairlinkError('MALFORMED', `${this.what}: field longer than ${max} bytes`);
    return this.take(length);
  }

  /** A u16-length-prefixed field no longer than `max`. */
  long(max: number): Uint8Array {
    const length = this.u16();
    if (length > max) throw new PairlinkError('MALFORMED', `${this.what}: field longer than ${max} bytes`);
    return this.take(length);
  }

  /** Everything not read yet. */
  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  end(): void {
    if (this.remaining !== 0) throw new PairlinkError('MALFORMED', `${this.what}: trailing bytes`);
  }

  private take(size: number): Uint8Array {
    if (size > this.remaining) throw new PairlinkError('MALFORMED', `${this.what}: truncated`);
    const out = this.bytes.subarray(this.offset, this.offset + size);
    this.offset += size;
    return out;
  }
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Strict UTF-8 decoding: invalid sequences are MALFORMED, never replaced. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new PairlinkError('MALFORMED', `${what}: not valid UTF-8`);
  }
}

/** Concatenates byte strings. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const writer = new ByteWriter();
  for (const part of parts) writer.raw(part);
  return writer.finish();
}

/** CPace's prepend_len: LEB128 length followed by the bytes. */
export function prependLen(data: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  let length = data.length;
  do {
    const low = length & 0x7f;
    length >>>= 7;
    prefix.push(length > 0 ? low | 0x80 : low);
  } while (length > 0);
  return concatBytes(Uint8Array.from(prefix), data);
}

/** CPace's lv_cat: each argument with its LEB128 length prepended. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLen));
}
