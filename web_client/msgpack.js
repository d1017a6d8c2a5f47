// A small MessagePack codec for the live protocol (server/stream/protocol.py): maps, arrays,
// strings, binary, booleans, nil, integers and floats. Extension types are not used by the
// protocol and are refused, so a corrupt message fails loudly instead of decoding to garbage.

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export class MsgpackError extends Error {}

/** Encode a JS value (object, array, string, number, boolean, null, Uint8Array) to bytes. */
export function encode(value) {
  const out = new Writer();
  write(out, value);
  return out.bytes();
}

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
  u8(v) { this.ensure(1); this.view.setUint8(this.pos, v); this.pos += 1; }
  u16(v) { this.ensure(2); this.view.setUint16(this.pos, v); this.pos += 2; }
  u32(v) { this.ensure(4); this.view.setUint32(this.pos, v); this.pos += 4; }
  i8(v) { this.ensure(1); this.view.setInt8(this.pos, v); this.pos += 1; }
  i16(v) { this.ensure(2); this.view.setInt16(this.pos, v); this.pos += 2; }
  i32(v) { this.ensure(4); this.view.setInt32(this.pos, v); this.pos += 4; }
  i64(v) { this.ensure(8); this.view.setBigInt64(this.pos, BigInt(v)); this.pos += 8; }
  u64(v) { this.ensure(8); this.view.setBigUint64(this.pos, BigInt(v)); this.pos += 8; }
  f64(v) { this.ensure(8); this.view.setFloat64(this.pos, v); this.pos += 8; }
  raw(bytes) { this.ensure(bytes.length); this.buf.set(bytes, this.pos); this.pos += bytes.length; }
  bytes() { return this.buf.slice(0, this.pos); }
}

function write(out, v) {
  if (v === null || v === undefined) out.u8(0xc0);
  else if (v === false) out.u8(0xc2);
  else if (v === true) out.u8(0xc3);
  else if (typeof v === 'number') writeNumber(out, v);
  else if (typeof v === 'string') writeString(out, v);
  else if (v instanceof Uint8Array) writeBinary(out, v);
  else if (Array.isArray(v)) {
    writeLength(out, v.length, 0x90, 0xdc, 0xdd);
    for (const item of v) write(out, item);
  } else if (typeof v === 'object') {
    const entries = Object.entries(v).filter(([, value]) => value !== undefined);
    writeLength(out, entries.length, 0x80, 0xde, 0xdf);
    for (const [key, value] of entries) {
      writeString(out, key);
      write(out, value);
    }
  } else {
    throw new MsgpackError(`cannot encode a ${typeof v}`);
  }
}

function writeLength(out, n, fix, c16, c32) {
  if (n < 16) out.u8(fix | n);
  else if (n < 0x10000) { out.u8(c16); out.u16(n); }
  else { out.u8(c32); out.u32(n); }
}

function writeNumber(out, v) {
  if (!Number.isFinite(v)) throw new MsgpackError(`cannot encode the number ${v}`);
  if (!Number.isInteger(v) || !Number.isSafeInteger(v)) { out.u8(0xcb); out.f64(v); return; }
  if (v >= 0) {
    if (v < 0x80) out.u8(v);
    else if (v < 0x100) { out.u8(0xcc); out.u8(v); }
    else if (v < 0x10000) { out.u8(0xcd); out.u16(v); }
    else if (v < 0x100000000) { out.u8(0xce); out.u32(v); }
    else { out.u8(0xcf); out.u64(v); }
  } else if (v >= -32) out.u8(0xe0 | (v + 32));
  else if (v >= -0x80) { out.u8(0xd0); out.i8(v); }
  else if (v >= -0x8000) { out.u8(0xd1); out.i16(v); }
  else if (v >= -0x80000000) { out.u8(0xd2); out.i32(v); }
  else { out.u8(0xd3); out.i64(v); }
}

function writeString(out, s) {
  const bytes = utf8Encoder.encode(s);
  const n = bytes.length;
  if (n < 32) out.u8(0xa0 | n);
  else if (n < 0x100) { out.u8(0xd9); out.u8(n); }
  else if (n < 0x10000) { out.u8(0xda); out.u16(n); }
  else { out.u8(0xdb); out.u32(n); }
  out.raw(bytes);
}

function writeBinary(out, bytes) {
  const n = bytes.length;
  if (n < 0x100) { out.u8(0xc4); out.u8(n); }
  else if (n < 0x10000) { out.u8(0xc5); out.u16(n); }
  else { out.u8(0xc6); out.u32(n); }
  out.raw(bytes);
}

/** Decode exactly one MessagePack value from an ArrayBuffer or Uint8Array. */
export function decode(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const reader = new Reader(bytes);
  const value = reader.value();
  if (reader.pos !== bytes.length) {
    throw new MsgpackError(`${bytes.length - reader.pos} trailing bytes after the message`);
  }
  return value;
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  need(n) {
    if (this.pos + n > this.bytes.length) throw new MsgpackError('message is truncated');
  }
  take(n, get) {
    this.need(n);
    const v = get.call(this.view, this.pos);
    this.pos += n;
    return v;
  }
  u8() { return this.take(1, DataView.prototype.getUint8); }
  u16() { return this.take(2, DataView.prototype.getUint16); }
  u32() { return this.take(4, DataView.prototype.getUint32); }
  slice(n) {
    this.need(n);
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  str(n) { return utf8Decoder.decode(this.slice(n)); }
  array(n) {
    const a = new Array(n);
    for (let i = 0; i < n; i += 1) a[i] = this.value();
    return a;
  }
  map(n) {
    const m = {};
    for (let i = 0; i < n; i += 1) {
      const key = this.value();
      if (typeof key !== 'string' && typeof key !== 'number') {
        throw new MsgpackError('map keys must be strings or numbers');
      }
      m[key] = this.value();
    }
    return m;
  }
  value() {
    const b = this.u8();
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f);
    if (b < 0xa0) return this.array(b & 0x0f);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.slice(this.u8()).slice();
      case 0xc5: return this.slice(this.u16()).slice();
      case 0xc6: return this.slice(this.u32()).slice();
      case 0xca: return this.take(4, DataView.prototype.getFloat32);
      case 0xcb: return this.take(8, DataView.prototype.getFloat64);
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return Number(this.take(8, DataView.prototype.getBigUint64));
      case 0xd0: return this.take(1, DataView.prototype.getInt8);
      case 0xd1: return this.take(2, DataView.prototype.getInt16);
      case 0xd2: return this.take(4, DataView.prototype.getInt32);
      case 0xd3: return Number(this.take(8, DataView.prototype.getBigInt64));
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16());
      case 0xdd: return this.array(this.u32());
      case 0xde: return this.map(this.u16());
      case 0xdf: return this.map(this.u32());
      default:
        throw new MsgpackError(`unsupported MessagePack type byte 0x${b.toString(16)}`);
    }
  }
}
