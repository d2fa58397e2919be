"""Independent Ed25519ph for the tests: RFC 8032 §6's reference code, pure Python.

``cryptography`` (and OpenSSL 3.0's command line) cannot verify Ed25519ph, and the service signs it
with pycryptodome, so the tests check its signatures with this: the RFC's own Python (§6), made
Ed25519ph by §5.1's ``dom2(1, "")`` prefix and PH = SHA-512 (§5.1.6 steps 2 and 4, §5.1.7 step 2).
The signer is here for the reverse direction (a signature made outside, verified by the service).
Slow and not constant-time: for tests only. Both halves are pinned by RFC 8032 §7.3's vector
(tests/unit/crypto/test_signing.py).
"""

from __future__ import annotations

import base64
import hashlib

# --- RFC 8032 §6, as published (names kept; points are extended coordinates (X, Y, Z, T))

Point = tuple[int, int, int, int]

p = 2**255 - 19
q = 2**252 + 27742317777372353535851937790883648493  # the group order L


def _modp_inv(x: int) -> int:
    return pow(x, p - 2, p)


d = -121665 * _modp_inv(121666) % p
_modp_sqrt_m1 = pow(2, (p - 1) // 4, p)


def _point_add(P: Point, Q: Point) -> Point:
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def _point_mul(s: int, P: Point) -> Point:
    Q: Point = (0, 1, 1, 0)  # the neutral element
    while s > 0:
        if s & 1:
            Q = _point_add(Q, P)
        P = _point_add(P, P)
        s >>= 1
    return Q


def _point_equal(P: Point, Q: Point) -> bool:
    # x1 / z1 == x2 / z2  <==>  x1 * z2 == x2 * z1
    if (P[0] * Q[2] - Q[0] * P[2]) % p != 0:
        return False
    return (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= p:
        return None
    x2 = (y * y - 1) * _modp_inv(d * y * y + 1)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * _modp_sqrt_m1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


_g_y = 4 * _modp_inv(5) % p
_g_x = _recover_x(_g_y, 0)
assert _g_x is not None
G: Point = (_g_x, _g_y, 1, _g_x * _g_y % p)


def _point_compress(P: Point) -> bytes:
    zinv = _modp_inv(P[2])
    x = P[0] * zinv % p
    y = P[1] * zinv % p
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _point_decompress(s: bytes) -> Point | None:
    if len(s) != 32:
        raise ValueError("Invalid input length for decompression")
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % p)


# --- Ed25519ph (RFC 8032 §5.1: phflag = 1, empty context)

DOM2_PH = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])  # dom2(1, "")
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")  # RFC 8410 SubjectPublicKeyInfo


def ed25519ph_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7 with PH = SHA-512: is ``signature`` Ed25519ph over ``message`` by ``public``?"""
    return ed25519ph_verify_prehash(public, hashlib.sha512(message).digest(), signature)


def ed25519ph_verify_prehash(public: bytes, prehash: bytes, signature: bytes) -> bool:
    """The same, given PH(M) = SHA-512(M) instead of M."""
    if len(public) != 32 or len(prehash) != 64 or len(signature) != 64:
        return False
    A = _point_decompress(public)
    if not A:
        return False
    Rs = signature[:32]
    R = _point_decompress(Rs)
    if not R:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= q:
        return False
    h = int.from_bytes(hashlib.sha512(DOM2_PH + Rs + public + prehash).digest(), "little") % q
    sB = _point_mul(s, G)
    hA = _point_mul(h, A)
    return _point_equal(sB, _point_add(R, hA))


def ed25519ph_sign(secret: bytes, message: bytes) -> bytes:
    """RFC 8032 §5.1.6 with PH = SHA-512: the Ed25519ph signature of ``message`` by the 32-byte key."""
    if len(secret) != 32:
        raise ValueError("Bad size of private key")
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    prefix = h[32:]
    A = _point_compress(_point_mul(a, G))
    prehash = hashlib.sha512(message).digest()
    r = int.from_bytes(hashlib.sha512(DOM2_PH + prefix + prehash).digest(), "little") % q
    Rs = _point_compress(_point_mul(r, G))
    h_ram = int.from_bytes(hashlib.sha512(DOM2_PH + Rs + A + prehash).digest(), "little") % q
    s = (r + h_ram * a) % q
    return Rs + int.to_bytes(s, 32, "little")


def ed25519_public_from_pem(pem: str) -> bytes:
    """The 32-byte point A out of an Ed25519 ``PUBLIC KEY`` PEM (LF or CRLF), parsed by hand."""
    lines = pem.strip().splitlines()
    assert lines[0].strip() == "-----BEGIN PUBLIC KEY-----"
    assert lines[-1].strip() == "-----END PUBLIC KEY-----"
    der = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    assert der[: len(ED25519_SPKI_PREFIX)] == ED25519_SPKI_PREFIX
    assert len(der) == len(ED25519_SPKI_PREFIX) + 32
    return der[len(ED25519_SPKI_PREFIX) :]
