#!/usr/bin/env python3
"""An independent check of docs/test-vectors.json, written from docs/PROTOCOL.md alone.

It shares no code with the TypeScript implementation: Python's standard library, the
`cryptography` package (Ed25519 signing, X25519) and PyNaCl (crypto_secretbox), with ristretto255
written here from RFC 9496 and strict Ed25519 verification from RFC 8032 and PROTOCOL.md §1. Every value in the file is either an input it reads (seeds, drawn
randomness, policies) or an output it recomputes and compares; it fails on any mismatch and on
any value it neither read nor checked.

Usage: verify_vectors.py [path/to/test-vectors.json]   (Debian: python3-cryptography python3-nacl)
"""

import hashlib
import hmac
import json
import struct
import sys
import unicodedata

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl.secret import SecretBox

RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw


# ---------------------------------------------------------------- conventions (PROTOCOL.md top)

def u8(n):
    return struct.pack(">B", n)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def short(b):
    assert len(b) < 256
    return u8(len(b)) + b


def long(b):
    return u16(len(b)) + b


def leb128(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def prepend_len(b):
    return leb128(len(b)) + b


def lv_cat(*parts):
    return b"".join(prepend_len(p) for p in parts)


def sha256(b):
    return hashlib.sha256(b).digest()


def sha512(b):
    return hashlib.sha512(b).digest()


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def hkdf_extract(salt, ikm):
    return hmac256(salt, ikm)


def hkdf_expand(prk, info, length):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac256(prk, block + info + u8(counter))
        out += block
        counter += 1
    return out[:length]


def bits_of(data):
    return "".join(format(b, "08b") for b in data)


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------- §1 identity, §3 encodings

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def base58btc(data):
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + out


def did_key(signing_public):
    return "did:key:z" + base58btc(b"\xed\x01" + signing_public)


def gf32_mul(a, b):
    # Polynomials over GF(2) modulo x^5 + x^2 + 1 (0b100101).
    r = 0
    for i in range(5):
        if (b >> i) & 1:
            r ^= a << i
    for i in range(9, 4, -1):
        if (r >> i) & 1:
            r ^= 0b100101 << (i - 5)
    return r


def check_symbol(values):
    c, weight = 0, 1
    for v in values:
        weight = gf32_mul(weight, 0b00010)  # alpha^(i+1), alpha = x
        c ^= gf32_mul(weight, v)
    return c


def symbols_from_bits(data, count):
    bits = bits_of(data)
    return [int(bits[5 * j:5 * j + 5], 2) for j in range(count)]


def fingerprint(signing_public):
    d = sha256(b"pairlink/v1/fingerprint" + signing_public)
    symbols = symbols_from_bits(d, 15)
    symbols.append(check_symbol(symbols))
    text = "".join(CROCKFORD[v] for v in symbols)
    return "-".join(text[i:i + 4] for i in range(0, 16, 4))


def ed25519_public(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAW_PUB)


def ed25519_sign(seed, message):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def x25519_public(secret):
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(RAW, RAW_PUB)


def x25519(secret, peer):
    return X25519PrivateKey.from_private_bytes(secret).exchange(X25519PublicKey.from_public_bytes(peer))


# ---------------------------------------------------------------- §2 card

def card(seed, agreement_public, created_at, name, relay_url):
    name = unicodedata.normalize("NFC", name)
    body = (u8(1) + ed25519_public(seed) + agreement_public + u32(created_at)
            + short(name.encode()) + short(relay_url.encode()))
    return body + ed25519_sign(seed, b"pairlink/v1/card" + b"\0" + body)


# ---------------------------------------------------------------- ristretto255 (RFC 9496 §4)

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
assert SQRT_M1 * SQRT_M1 % P == P - 1


def is_negative(x):
    return (x % P) & 1


def ct_abs(x):
    x %= P
    return (P - x) % P if is_negative(x) else x


def sqrt_ratio_m1(u, v):
    u %= P
    v %= P
    v3 = v * v % P * v % P
    v7 = v3 * v3 % P * v % P
    r = u * v3 % P * pow(u * v7 % P, (P - 5) // 8, P) % P
    check = v * r % P * r % P
    correct = check == u
    flipped = check == (-u) % P
    flipped_i = check == (-u * SQRT_M1) % P
    if flipped or flipped_i:
        r = r * SQRT_M1 % P
    return correct or flipped, ct_abs(r)


# RFC 9496 §4.1 constants, by value (which square root each is matters), checked against their
# definitions: SQRT_AD_MINUS_ONE² = a·d − 1 and INVSQRT_A_MINUS_D² · (a − d) = 1, with a = −1.
SQRT_AD_MINUS_ONE = 25063068953384623474111414158702152701244531502492656460079210482610430750235
INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578
ONE_MINUS_D_SQ = 1159843021668779879193775521855586647937357759715417654439879720876111806838
D_MINUS_ONE_SQ = 40440834346308536858101042469323190826248399146238708352240133220865137265952
assert SQRT_AD_MINUS_ONE * SQRT_AD_MINUS_ONE % P == (-D - 1) % P
assert INVSQRT_A_MINUS_D * INVSQRT_A_MINUS_D % P * ((-1 - D) % P) % P == 1
assert ONE_MINUS_D_SQ == (1 - D * D) % P and D_MINUS_ONE_SQ == (D - 1) * (D - 1) % P
IDENTITY = (0, 1, 1, 0)


def point_add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * 2 * D * t2 % P
    d = z1 * 2 * z2 % P
    e, f, g, h = (b - a) % P, (d - c) % P, (d + c) % P, (b + a) % P
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(k, point):
    result, addend = IDENTITY, point
    while k:
        if k & 1:
            result = point_add(result, addend)
        addend = point_add(addend, addend)
        k >>= 1
    return result


def decode(data):
    """RFC 9496 §4.3.1; None for an invalid encoding."""
    if len(data) != 32:
        return None
    s = int.from_bytes(data, "little")
    if s >= P or is_negative(s):
        return None
    ss = s * s % P
    u1 = (1 - ss) % P
    u2 = (1 + ss) % P
    u2_sqr = u2 * u2 % P
    v = (-(D * u1 % P * u1) - u2_sqr) % P
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr)
    den_x = invsqrt * u2 % P
    den_y = invsqrt * den_x % P * v % P
    x = ct_abs(2 * s * den_x)
    y = u1 * den_y % P
    t = x * y % P
    if not was_square or is_negative(t) or y == 0:
        return None
    return (x, y, 1, t)


def encode(point):
    """RFC 9496 §4.3.2."""
    x0, y0, z0, t0 = point
    u1 = (z0 + y0) * (z0 - y0) % P
    u2 = x0 * y0 % P
    _, invsqrt = sqrt_ratio_m1(1, u1 * u2 % P * u2)
    den1 = invsqrt * u1 % P
    den2 = invsqrt * u2 % P
    z_inv = den1 * den2 % P * t0 % P
    ix0 = x0 * SQRT_M1 % P
    iy0 = y0 * SQRT_M1 % P
    enchanted = den1 * INVSQRT_A_MINUS_D % P
    rotate = is_negative(t0 * z_inv)
    x = iy0 if rotate else x0
    y = ix0 if rotate else y0
    den_inv = enchanted if rotate else den2
    if is_negative(x * z_inv):
        y = (-y) % P
    s = ct_abs(den_inv * (z0 - y))
    return s.to_bytes(32, "little")


def _map(t):
    r = SQRT_M1 * t % P * t % P
    u = (r + 1) * ONE_MINUS_D_SQ % P
    v = (-1 - r * D) * (r + D) % P
    was_square, s = sqrt_ratio_m1(u, v)
    s_prime = (-ct_abs(s * t)) % P
    if not was_square:
        s = s_prime
    c = (P - 1) if was_square else r
    n = (c * (r - 1) % P * D_MINUS_ONE_SQ - v) % P
    w0 = 2 * s * v % P
    w1 = n * SQRT_AD_MINUS_ONE % P
    w2 = (1 - s * s) % P
    w3 = (1 + s * s) % P
    return (w0 * w3 % P, w2 * w1 % P, w1 * w3 % P, w0 * w2 % P)


def element_derivation(b64):
    """RFC 9496 §4.3.4: from 64 uniform bytes."""
    r0 = (int.from_bytes(b64[:32], "little") & ((1 << 255) - 1)) % P
    r1 = (int.from_bytes(b64[32:], "little") & ((1 << 255) - 1)) % P
    return point_add(_map(r0), _map(r1))


def self_test_ristretto(rfc_vectors_path):
    with open(rfc_vectors_path, encoding="utf-8") as f:
        v = json.load(f)
    base = decode(bytes.fromhex(v["smallMultiples"][1]))
    for i, expected in enumerate(v["smallMultiples"]):
        assert encode(scalar_mult(i, base)).hex() == expected, f"RFC 9496 A.1 [{i}]B"
    for bad in v["invalidEncodings"]:
        assert decode(bytes.fromhex(bad)) is None, f"RFC 9496 A.2 {bad}"
    for case in v["fromUniformBytes"]:
        assert encode(element_derivation(bytes.fromhex(case["input"]))).hex() == case["output"], "RFC 9496 A.3"


# ---------------------------------------------------------------- §1 strict Ed25519 (RFC 8032 §5.1)
# Written here rather than asked of `cryptography`: what OpenSSL answers for an R of small order
# depends on its version, and §1 decides that case itself.

def ed25519_decode(data):
    """RFC 8032 §5.1.3, canonical encodings only (y < p; x = 0 with a clear sign bit); None else."""
    if len(data) != 32:
        return None
    n = int.from_bytes(data, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    if v * x * x % P != u or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def ed25519_encode(point):
    x, y, z, _ = point
    z_inv = pow(z, P - 2, P)
    x, y = x * z_inv % P, y * z_inv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def negate(point):
    x, y, z, t = point
    return ((-x) % P, y, z, (-t) % P)


ED25519_BASE = ed25519_decode(bytes.fromhex("58" + "66" * 31))


def is_small_order(point):
    return ed25519_encode(scalar_mult(8, point)) == ed25519_encode(IDENTITY)


def ed25519_verify_strict(public_key, message, signature):
    """§1: 64 bytes, S < L, R not of small order, the strict key rule, then the cofactorless
    equation by bytes: encode([S]B - [k]A) == R."""
    if len(signature) != 64:
        return False
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a = ed25519_decode(public_key)
    if a is None or is_small_order(a):
        return False
    r_point = ed25519_decode(r)
    if r_point is not None and is_small_order(r_point):
        return False
    k = int.from_bytes(sha512(r + public_key + message), "little") % L
    return ed25519_encode(point_add(scalar_mult(s, ED25519_BASE), scalar_mult(k, negate(a)))) == r


def self_test_ed25519(primitives_path):
    with open(primitives_path, encoding="utf-8") as f:
        cases = json.load(f)["ed25519"]["cases"]
    for case in cases:
        pub, msg, sig = (bytes.fromhex(case[k]) for k in ("publicKey", "message", "signature"))
        assert ed25519_encode(ed25519_decode(pub)) == pub, "RFC 8032 key round trip"
        assert ed25519_verify_strict(pub, msg, sig), "RFC 8032 7.1 signature"
        assert not ed25519_verify_strict(pub, msg + b"x", sig), "RFC 8032 7.1, another message"


# ---------------------------------------------------------------- §5 CPace

def cpace_generator(prs, ci, sid):
    dsi = b"CPaceRistretto255"
    zpad = max(0, 128 - 1 - len(prepend_len(prs)) - len(prepend_len(dsi)))
    gen_string = lv_cat(dsi, prs, b"\0" * zpad, ci, sid)
    return encode(element_derivation(sha512(gen_string)))


def cpace_scalar(random32):
    data = bytearray(random32)
    data[31] &= 0x0F
    y = int.from_bytes(bytes(data), "little")
    assert 0 < y < L, "zero scalar: the spec draws again (not in these vectors)"
    return y


def cpace_mult(y, encoded):
    point = decode(encoded)
    assert point is not None
    out = encode(scalar_mult(y, point))
    assert out != b"\0" * 32
    return out


# ---------------------------------------------------------------- the checker

class Checker:
    def __init__(self, vectors):
        self.vectors = vectors
        self.inputs = set()
        self.checked = set()
        self.failures = []

    def get(self, path):
        node = self.vectors
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def input(self, path):
        self.inputs.add(path)
        return self.get(path)

    def hex_input(self, path):
        return bytes.fromhex(self.input(path))

    def check(self, path, computed):
        expected = self.get(path)
        if isinstance(computed, (bytes, bytearray)):
            computed = computed.hex()
        self.checked.add(path)
        if computed != expected:
            self.failures.append(f"{path}: expected {expected!r}, computed {computed!r}")

    def leaves(self, node=None, prefix=""):
        node = self.vectors if node is None else node
        if isinstance(node, dict):
            for k, v in node.items():
                yield from self.leaves(v, f"{prefix}{k}.")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from self.leaves(v, f"{prefix}{i}.")
        else:
            yield prefix[:-1]

    def covered(self, path):
        return path in self.inputs or path in self.checked


def verify(c):
    c.input("description")
    now = c.input("now")
    parties = {}
    for name in c.get("parties"):
        base = f"parties.{name}"
        seed = c.hex_input(f"{base}.signingSeed")
        agreement = c.hex_input(f"{base}.agreementSecret")
        c.check(f"{base}.name", name)
        created_at = c.input(f"{base}.cardFields.createdAt")
        card_name = c.input(f"{base}.cardFields.name")
        relay = c.input(f"{base}.cardFields.relayUrl")
        pub = ed25519_public(seed)
        agreement_pub = x25519_public(agreement)
        c.check(f"{base}.signingPublicKey", pub)
        c.check(f"{base}.agreementPublicKey", agreement_pub)
        c.check(f"{base}.did", did_key(pub))
        c.check(f"{base}.fingerprint", fingerprint(pub))
        the_card = card(seed, agreement_pub, created_at, card_name, relay)
        c.check(f"{base}.card", the_card)
        parties[name] = {"seed": seed, "pub": pub, "card": the_card, "did": did_key(pub),
                         "agreement_pub": agreement_pub}

    # ---- URL form: alice issues, bob accepts.
    for key in ("format", "mode", "ttlSeconds", "uses", "requireSas"):
        c.input(f"url.policy.{key}")
    alice, bob = parties["alice"], parties["bob"]
    inv = "url.invite"
    mode = c.input(f"{inv}.mode")
    require_sas = c.input(f"{inv}.requireSas")
    relay_url = c.input(f"{inv}.relayUrl")
    uses = c.input(f"{inv}.uses")
    secret = c.hex_input(f"{inv}.secret")
    c.check(f"{inv}.expiresAt", now + c.get("url.policy.ttlSeconds"))
    expires = c.get(f"{inv}.expiresAt")
    flags = (1 if mode == "device" else 0) | (2 if require_sas else 0)
    signed_body = (u8(1) + u8(flags) + alice["pub"] + u32(expires) + u16(uses) + secret
                   + short(relay_url.encode()))
    signed_message = b"pairlink/v1/invite" + b"\0" + signed_body
    signature = ed25519_sign(alice["seed"], signed_message)
    c.check(f"{inv}.signedBody", signed_body)
    c.check(f"{inv}.signedMessage", signed_message)
    c.check(f"{inv}.signature", signature)
    prk = hkdf_extract(b"\0" * 32, secret)
    mailbox_id = hkdf_expand(prk, b"pairlink/v1/url/mailbox", 16)
    write_cap = hkdf_expand(prk, b"pairlink/v1/url/write-cap", 16)
    invite_id = sha256(b"pairlink/v1/invite-id" + b"\0" + signed_body)[:16]
    c.check(f"{inv}.mailboxId", mailbox_id)
    c.check(f"{inv}.writeCapability", write_cap)
    c.check(f"{inv}.inviteId", invite_id)
    head = u8(1)
    tail = alice["pub"] + u32(expires) + u16(uses) + secret
    custom_payload = head + u8(flags) + tail + short(relay_url.encode()) + signature
    web_payload = head + u8(flags | 0x80) + tail + short(b"") + signature
    c.check(f"{inv}.customPayload", custom_payload)
    c.check(f"{inv}.webPayload", web_payload)
    c.check(f"{inv}.customUrl", "pairlink://invite/" + b64url(custom_payload))
    c.check(f"{inv}.webUrl", relay_url + "/i#" + b64url(web_payload))

    def session_and_frames(form, prefix, issuer, acceptor, invite_mailbox, hello_to, session_secret_of):
        s = f"{prefix}.session"
        session_id = c.hex_input(f"{s}.sessionId")
        reply_box = c.hex_input(f"{s}.acceptorReplyMailbox.mailboxId")
        reply_cap = c.hex_input(f"{s}.acceptorReplyMailbox.writeCapability")
        c.hex_input(f"{s}.acceptorReplyMailbox.readCapability")  # drawn; never on the wire
        eph_a = c.hex_input(f"{s}.acceptorEphemeralSecret")
        eph_i = c.hex_input(f"{s}.issuerEphemeralSecret")
        share_a, share_i, session_secret = session_secret_of(session_id, eph_a, eph_i)
        c.check(f"{s}.acceptorShare", share_a)
        c.check(f"{s}.issuerShare", share_i)
        c.check(f"{s}.sessionSecret", session_secret)
        prk = hkdf_extract(b"\0" * 32, session_secret)
        keys = {name: hkdf_expand(prk, f"pairlink/v1/key/{label}".encode(), 32) for name, label in [
            ("acceptorToIssuer", "acceptor-to-issuer"), ("issuerToAcceptor", "issuer-to-acceptor"),
            ("confirmAcceptor", "confirm-acceptor"), ("confirmIssuer", "confirm-issuer"), ("sas", "sas")]}
        for name, value in keys.items():
            c.check(f"{s}.keys.{name}", value)
        iid = bytes.fromhex(c.get(f"{s}.inviteId"))
        th1 = sha256(lv_cat(b"pairlink/v1/transcript", form.encode(), iid, invite_mailbox, session_id,
                            share_a, share_i, issuer["card"]))
        th2 = sha256(lv_cat(b"pairlink/v1/transcript", th1, acceptor["card"]))
        c.check(f"{s}.transcriptAfterReply", th1)
        c.check(f"{s}.transcriptFinal", th2)
        out = hkdf_expand(keys["sas"], b"pairlink/v1/sas-output", 11)
        c.check(f"{s}.sasOutput", out)
        bits = bits_of(out)
        c.check(f"{s}.sas.digits", str(int(bits[:40], 2) % 10**6).zfill(6))
        indexes = [int(bits[40 + 6 * i:46 + 6 * i], 2) for i in range(7)]
        c.check(f"{s}.sas.emoji", " ".join(SAS_EMOJI[i][0] for i in indexes))
        for i, index in enumerate(indexes):
            c.check(f"{s}.sas.emojiNames.{i}", SAS_EMOJI[index][1])

        def seal(key, frame_type, message):
            nonce = u8(frame_type) + b"\0" * 23
            return SecretBox(key).encrypt(message, nonce).ciphertext

        sig1 = ed25519_sign(issuer["seed"], b"pairlink/v1/transcript-sig/issuer-reply\0" + th1)
        sig_a = ed25519_sign(acceptor["seed"], b"pairlink/v1/transcript-sig/acceptor\0" + th2)
        sig2 = ed25519_sign(issuer["seed"], b"pairlink/v1/transcript-sig/issuer-welcome\0" + th2)
        reply_body = u8(0) + long(issuer["card"]) + sig1 + hmac256(keys["confirmIssuer"], th1)
        confirm_body = long(acceptor["card"]) + sig_a + hmac256(keys["confirmAcceptor"], th2)
        welcome_body = sig2 + long(b"")
        frame_head = lambda t: u8(1) + u8(t) + session_id  # noqa: E731
        expected_frames = {
            "hello": (hello_to, frame_head(1) + u8(1 if form == "url" else 2) + share_a + reply_box + reply_cap, None),
            "reply": (reply_box, frame_head(2) + share_i + seal(keys["issuerToAcceptor"], 2, reply_body), reply_body),
            "confirm": (hello_to, frame_head(3) + seal(keys["acceptorToIssuer"], 3, confirm_body), confirm_body),
            "welcome": (reply_box, frame_head(4) + seal(keys["issuerToAcceptor"], 4, welcome_body), welcome_body),
            "ack": (hello_to, frame_head(6) + seal(keys["acceptorToIssuer"], 6, b""), b""),
        }
        frames = c.get(f"{prefix}.frames")
        assert [f["type"] for f in frames] == list(expected_frames), f"{prefix}: frame order"
        for i, frame in enumerate(frames):
            to, data, plaintext = expected_frames[frame["type"]]
            c.input(f"{prefix}.frames.{i}.type")
            sender = issuer if frame["type"] in ("reply", "welcome") else acceptor
            c.check(f"{prefix}.frames.{i}.from", sender["name"])
            c.check(f"{prefix}.frames.{i}.to", to)
            c.check(f"{prefix}.frames.{i}.bytes", data)
            if plaintext is not None:
                c.check(f"{prefix}.frames.{i}.plaintext", plaintext)
        c.check(f"{prefix}.pinned.{issuer['name']}.0", acceptor["did"])
        c.check(f"{prefix}.pinned.{acceptor['name']}.0", issuer["did"])
        return expected_frames, keys, session_id

    for name, party in parties.items():
        party["name"] = name

    def url_secret(session_id, eph_a, eph_i):
        share_a, share_i = x25519_public(eph_a), x25519_public(eph_i)
        shared = x25519(eph_a, share_i)
        assert shared == x25519(eph_i, share_a) and shared != b"\0" * 32
        info = b"pairlink/v1/url/session" + lv_cat(invite_id, mailbox_id, session_id, share_a, share_i)
        return share_a, share_i, hkdf_expand(hkdf_extract(secret, shared), info, 32)

    c.check("url.session.inviteId", invite_id)
    c.check("url.session.mailboxId", mailbox_id)
    url_run = session_and_frames("url", "url", alice, bob, mailbox_id, mailbox_id, url_secret)

    # ---- Code form: carol issues, dave accepts.
    for key in ("format", "mode", "ttlSeconds", "uses", "requireSas"):
        c.input(f"code.policy.{key}")
    carol, dave = parties["carol"], parties["dave"]
    nameplate = c.input("code.code.nameplate")
    code_secret = c.input("code.code.secret")
    c.input("code.code.claimWriteCapability")
    values = [CROCKFORD.index(ch) for ch in nameplate + code_secret]
    text = "".join(CROCKFORD[v] for v in values + [check_symbol(values)])
    c.check("code.code.text", "-".join(text[i:i + 4] for i in range(0, len(text), 4)))
    code_mailbox = c.hex_input("code.session.mailboxId")
    code_invite_id = sha256(b"pairlink/v1/invite-id" + b"\0" + lv_cat(nameplate.encode(), code_mailbox))[:16]
    c.check("code.session.inviteId", code_invite_id)
    prs = code_secret.encode()
    ci = lv_cat(b"pairlink/v1/code", nameplate.encode(), code_mailbox, code_invite_id)
    ad_a, ad_b = b"pairlink/v1/code/acceptor", b"pairlink/v1/code/issuer"
    c.check("code.cpace.prs", prs)
    c.check("code.cpace.ci", ci)
    c.check("code.cpace.adA", ad_a)
    c.check("code.cpace.adB", ad_b)

    def code_secret_of(session_id, eph_a, eph_i):
        c.check("code.cpace.sid", session_id)
        g = cpace_generator(prs, ci, session_id)
        c.check("code.cpace.generator", g)
        ya, yb = cpace_scalar(eph_a), cpace_scalar(eph_i)
        c.check("code.cpace.scalarA", ya.to_bytes(32, "little"))
        c.check("code.cpace.scalarB", yb.to_bytes(32, "little"))
        share_a, share_b = cpace_mult(ya, g), cpace_mult(yb, g)
        k = cpace_mult(ya, share_b)
        assert k == cpace_mult(yb, share_a)
        c.check("code.cpace.K", k)
        isk = sha512(lv_cat(b"CPaceRistretto255_ISK", session_id, k) + lv_cat(share_a, ad_a) + lv_cat(share_b, ad_b))
        c.check("code.cpace.isk", isk)
        return share_a, share_b, hkdf_expand(hkdf_extract(b"\0" * 32, isk), b"pairlink/v1/code/session", 32)

    session_and_frames("code", "code", carol, dave, code_mailbox, code_mailbox, code_secret_of)

    verify_notices(c, parties)
    verify_inbox_run(c, parties, url_run)
    verify_device_bundle(c, parties)

    # ---- §1's strict Ed25519 rule at its edges.
    for i in range(len(c.get("ed25519Rule"))):
        base = f"ed25519Rule.{i}"
        c.input(f"{base}.name")
        key, message, signature = (c.hex_input(f"{base}.{k}") for k in ("publicKey", "message", "signature"))
        c.check(f"{base}.valid", ed25519_verify_strict(key, message, signature))


# ---------------------------------------------------------------- §6.8 device bundle
def verify_device_bundle(c, parties):
    """§6.8, version 2: the current secrets and the next-key commitment, never the next key."""
    d = "deviceBundle"
    party = parties[c.input(f"{d}.party")]
    name = c.input(f"{d}.name")
    c.check(f"{d}.nextKeyCommitment", c.get("notices.rotation.nextKeyCommitment"))
    commitment = bytes.fromhex(c.get(f"{d}.nextKeyCommitment"))
    p = f"parties.{c.get(f'{d}.party')}"
    seed, agreement = bytes.fromhex(c.get(f"{p}.signingSeed")), bytes.fromhex(c.get(f"{p}.agreementSecret"))
    assert ed25519_public(seed) == party["pub"]
    bundle = u8(2) + seed + agreement + commitment + short(name.encode())
    c.check(f"{d}.bytes", bundle)
    assert bytes.fromhex(c.get("notices.rotation.nextSigningSeed")) not in bundle


# ---------------------------------------------------------------- §11 notices

NOTICE_KINDS = ["unpair", "rotate", "inboxMoved", "ping", "receipt"]
ROTATION_REASONS = ["scheduled", "deviceRevoked", "compromised"]


def secretbox_seal(key, type_byte, message):
    # §6.1's seal: crypto_secretbox, nonce = the type byte then 23 zero bytes; tag || ciphertext.
    return SecretBox(key).encrypt(message, u8(type_byte) + b"\0" * 23).ciphertext


def next_key_commitment(signing_public):
    return sha256(b"pairlink/v1/next-key" + b"\0" + signing_public)


def verify_notices(c, parties):
    """§11: the inbox, the inbox frame, pre-rotation, one notice of each kind, a thief's key."""
    n = "notices"
    sender, receiver = parties[c.input(f"{n}.sender")], parties[c.input(f"{n}.receiver")]
    relay = c.input(f"{n}.inbox.relayUrl").encode()
    inbox = u8(1) + short(relay) + c.hex_input(f"{n}.inbox.mailboxId") + c.hex_input(f"{n}.inbox.writeCapability")
    c.check(f"{n}.inbox.bytes", inbox)

    r = f"{n}.rotation"
    next_seed = c.hex_input(f"{r}.nextSigningSeed")
    next_agreement = c.hex_input(f"{r}.nextAgreementSecret")
    next_pub = ed25519_public(next_seed)
    commitment = next_key_commitment(next_pub)
    c.check(f"{r}.nextSigningPublicKey", next_pub)
    c.check(f"{r}.nextKeyCommitment", commitment)
    c.hex_input(f"{r}.afterNextAgreementSecret")  # drawn for the identity after; not on the wire
    after_pub = ed25519_public(c.hex_input(f"{r}.afterNextSigningSeed"))
    c.check(f"{r}.afterNextSigningPublicKey", after_pub)
    c.check(f"{r}.afterNextKeyCommitment", next_key_commitment(after_pub))
    fields = [c.input(f"{r}.newCardFields.{k}") for k in ("createdAt", "name", "relayUrl")]
    new_card = card(next_seed, x25519_public(next_agreement), *fields)
    c.check(f"{r}.newCard", new_card)

    extension = u8(1) + commitment + inbox
    c.check(f"{n}.inboxFrame.extension", extension)
    session_id = bytes.fromhex(c.get("url.session.sessionId"))
    i2a = bytes.fromhex(c.get("url.session.keys.issuerToAcceptor"))
    c.check(f"{n}.inboxFrame.frame", u8(1) + u8(8) + session_id + secretbox_seal(i2a, 8, extension))

    for i in range(len(c.get(f"{n}.notices"))):
        p = f"{n}.notices.{i}"
        kind = c.input(f"{p}.kind")
        counter, sent_at, expires_at = (c.input(f"{p}.{k}") for k in ("counter", "sentAt", "expiresAt"))
        if kind == "rotate":
            reason = ROTATION_REASONS.index(c.input(f"{p}.reason")) + 1
            body = u8(reason) + long(new_card) + next_key_commitment(after_pub)
        elif kind == "inboxMoved":
            body = inbox
        elif kind == "receipt":
            body = u32(c.input(f"{p}.receiptFor"))
        else:
            body = b""
        c.check(f"{p}.body", body)
        signed = (u8(1) + u8(NOTICE_KINDS.index(kind) + 1) + sender["pub"] + receiver["pub"]
                  + u32(counter) + u32(sent_at) + u32(expires_at) + long(body))
        message = b"pairlink/v1/notice" + b"\0" + signed
        # A rotation is signed by the key it reveals (§11.6); every other notice by the sender.
        signature = ed25519_sign(next_seed if kind == "rotate" else sender["seed"], message)
        c.check(f"{p}.signed", signed)
        c.check(f"{p}.signedMessage", message)
        c.check(f"{p}.signature", signature)
        ephemeral = c.hex_input(f"{p}.ephemeralSecret")
        share = x25519_public(ephemeral)
        shared = x25519(ephemeral, receiver["agreement_pub"])
        key = hkdf_expand(hkdf_extract(b"\0" * 32, shared),
                          b"pairlink/v1/notice/key" + lv_cat(share, receiver["agreement_pub"]), 32)
        c.check(f"{p}.ephemeralShare", share)
        c.check(f"{p}.shared", shared)
        c.check(f"{p}.key", key)
        c.check(f"{p}.bytes", u8(1) + share + secretbox_seal(key, 9, signed + signature))

    t = f"{n}.thief"
    c.hex_input(f"{t}.agreementSecret")
    thief_pub = ed25519_public(c.hex_input(f"{t}.signingSeed"))
    c.check(f"{t}.signingPublicKey", thief_pub)
    c.check(f"{t}.keyCommitment", next_key_commitment(thief_pub))
    c.check(f"{t}.matchesPinnedCommitment", next_key_commitment(thief_pub) == commitment)


def verify_inbox_run(c, parties, url_run):
    """§11.1 in the handshake: the URL session again, both sides handing over an inbox frame."""
    r = "inboxRun"
    expected, keys, session_id = url_run
    issuer, acceptor = parties[c.input(f"{r}.issuer")], parties[c.input(f"{r}.acceptor")]
    a = f"{r}.acceptorInbox"
    relay = c.input(f"{a}.relayUrl").encode()
    acceptor_cap = c.hex_input(f"{a}.writeCapability")
    inbox = u8(1) + short(relay) + c.hex_input(f"{a}.mailboxId") + acceptor_cap
    c.check(f"{a}.bytes", inbox)
    c.hex_input(f"{a}.nextAgreementSecret")  # drawn for the next identity; not on the wire
    next_pub = ed25519_public(c.hex_input(f"{a}.nextSigningSeed"))
    c.check(f"{a}.nextSigningPublicKey", next_pub)
    c.check(f"{a}.nextKeyCommitment", next_key_commitment(next_pub))
    acceptor_extension = u8(1) + next_key_commitment(next_pub) + inbox
    c.check(f"{a}.extension", acceptor_extension)
    # The issuer hands over the notices group's inbox and commitment (verify_notices rebuilt them).
    issuer_extension = bytes.fromhex(c.get("notices.inboxFrame.extension"))
    issuer_cap = bytes.fromhex(c.get("notices.inbox.writeCapability"))
    reply_box, invite_box = expected["reply"][0], expected["hello"][0]

    def inbox_frame(key, to, extension):
        return to, u8(1) + u8(8) + session_id + secretbox_seal(key, 8, extension), extension

    # §11.1: the issuer's inbox frame right before its welcome, the acceptor's right before its ack.
    order = [
        ("hello", acceptor, expected["hello"]),
        ("reply", issuer, expected["reply"]),
        ("confirm", acceptor, expected["confirm"]),
        ("inbox", issuer, inbox_frame(keys["issuerToAcceptor"], reply_box, issuer_extension)),
        ("welcome", issuer, expected["welcome"]),
        ("inbox", acceptor, inbox_frame(keys["acceptorToIssuer"], invite_box, acceptor_extension)),
        ("ack", acceptor, expected["ack"]),
    ]
    frames = c.get(f"{r}.frames")
    assert [f["type"] for f in frames] == [t for t, _, _ in order], f"{r}: frame order"
    for i, (_, sender, (to, data, plaintext)) in enumerate(order):
        c.input(f"{r}.frames.{i}.type")
        c.check(f"{r}.frames.{i}.from", sender["name"])
        c.check(f"{r}.frames.{i}.to", to)
        c.check(f"{r}.frames.{i}.bytes", data)
        if plaintext is not None:
            c.check(f"{r}.frames.{i}.plaintext", plaintext)
    # Each pin: the peer, the inbox extension it handed over, and the capability handed to it.
    for me, peer, peer_extension, handed in ((issuer, acceptor, acceptor_extension, issuer_cap),
                                             (acceptor, issuer, issuer_extension, acceptor_cap)):
        p = f"{r}.pinned.{me['name']}"
        c.check(f"{p}.did", peer["did"])
        c.check(f"{p}.peerInbox", peer_extension)
        c.check(f"{p}.handedWriteCapability", handed)


SAS_EMOJI = [
    ("\U0001F436", "Dog"), ("\U0001F431", "Cat"), ("\U0001F981", "Lion"), ("\U0001F40E", "Horse"),
    ("\U0001F984", "Unicorn"), ("\U0001F437", "Pig"), ("\U0001F418", "Elephant"), ("\U0001F430", "Rabbit"),
    ("\U0001F43C", "Panda"), ("\U0001F413", "Rooster"), ("\U0001F427", "Penguin"), ("\U0001F422", "Turtle"),
    ("\U0001F41F", "Fish"), ("\U0001F419", "Octopus"), ("\U0001F98B", "Butterfly"), ("\U0001F337", "Flower"),
    ("\U0001F333", "Tree"), ("\U0001F335", "Cactus"), ("\U0001F344", "Mushroom"), ("\U0001F30F", "Globe"),
    ("\U0001F319", "Moon"), ("\u2601\uFE0F", "Cloud"), ("\U0001F525", "Fire"), ("\U0001F34C", "Banana"),
    ("\U0001F34E", "Apple"), ("\U0001F353", "Strawberry"), ("\U0001F33D", "Corn"), ("\U0001F355", "Pizza"),
    ("\U0001F382", "Cake"), ("\u2764\uFE0F", "Heart"), ("\U0001F600", "Smiley"), ("\U0001F916", "Robot"),
    ("\U0001F3A9", "Hat"), ("\U0001F453", "Glasses"), ("\U0001F527", "Spanner"), ("\U0001F385", "Santa"),
    ("\U0001F44D", "Thumbs Up"), ("\u2602\uFE0F", "Umbrella"), ("\u231B", "Hourglass"), ("\u23F0", "Clock"),
    ("\U0001F381", "Gift"), ("\U0001F4A1", "Light Bulb"), ("\U0001F4D5", "Book"), ("\u270F\uFE0F", "Pencil"),
    ("\U0001F4CE", "Paperclip"), ("\u2702\uFE0F", "Scissors"), ("\U0001F512", "Lock"), ("\U0001F511", "Key"),
    ("\U0001F528", "Hammer"), ("\u260E\uFE0F", "Telephone"), ("\U0001F3C1", "Flag"), ("\U0001F682", "Train"),
    ("\U0001F6B2", "Bicycle"), ("\u2708\uFE0F", "Aeroplane"), ("\U0001F680", "Rocket"), ("\U0001F3C6", "Trophy"),
    ("\u26BD", "Ball"), ("\U0001F3B8", "Guitar"), ("\U0001F3BA", "Trumpet"), ("\U0001F514", "Bell"),
    ("\u2693", "Anchor"), ("\U0001F3A7", "Headphones"), ("\U0001F4C1", "Folder"), ("\U0001F4CC", "Pin"),
]


def main():
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "docs", "test-vectors.json")
    self_test_ristretto(os.path.join(here, "..", "vectors", "ristretto255-rfc9496.json"))
    self_test_ed25519(os.path.join(here, "..", "vectors", "primitives.json"))
    with open(path, encoding="utf-8") as f:
        checker = Checker(json.load(f))
    verify(checker)
    leaves = list(checker.leaves())
    uncovered = [p for p in leaves if not checker.covered(p)]
    for failure in checker.failures:
        print(f"MISMATCH {failure}")
    for p in uncovered:
        print(f"NOT COVERED {p}")
    print(json.dumps({
        "values": len(leaves),
        "inputs": len(checker.inputs),
        "reproduced": len(checker.checked) - len(checker.failures),
        "mismatches": len(checker.failures),
        "uncovered": len(uncovered),
    }))
    sys.exit(1 if checker.failures or uncovered else 0)


if __name__ == "__main__":
    main()

