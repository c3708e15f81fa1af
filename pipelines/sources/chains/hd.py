"""Watch-only Bitcoin wallets: BIP32 extended keys (xpub/ypub/zpub, SLIP-132), BIP44/49/84 addresses,
gap-limit discovery. Pure Python, no I/O: derivation is a few hundred microseconds per address, which is
nothing next to an explorer round trip, and keeps the dependency list short.

A Ledger Live account exports its key as `xpub…` whatever the account type, so the script type can be given
explicitly; otherwise it follows the key's version bytes (xpub → BIP44 P2PKH, ypub → BIP49 P2SH-P2WPKH,
zpub → BIP84 P2WPKH).

Why one module of ~380 lines: secp256k1 arithmetic, BIP32 derivation, the address encodings and gap-limit
discovery are checked together against the BIPs' published vectors (tests/unit/test_wallet_derivation.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# ── secp256k1 ────────────────────────────────────────────────────────────────────────────────────────────
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
Point = tuple[int, int] | None


def _add(a: Point, b: Point) -> Point:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    # tangent when doubling, chord otherwise
    slope = (3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P if a == b
             else (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P)
    x = (slope * slope - a[0] - b[0]) % P
    return x, (slope * (a[0] - x) - a[1]) % P


def _multiply(k: int, point: Point = G) -> Point:
    result: Point = None
    addend = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def _compress(point: Point) -> bytes:
    assert point is not None
    return bytes([2 + (point[1] & 1)]) + point[0].to_bytes(32, "big")


def _decompress(data: bytes) -> Point:
    if len(data) != 33 or data[0] not in (2, 3):
        raise InvalidKey("not a compressed public key")
    x = int.from_bytes(data[1:], "big")
    if x >= P:
        raise InvalidKey("public key x coordinate out of range")
    y = pow((pow(x, 3, P) + 7) % P, (P + 1) // 4, P)
    if (y * y - x**3 - 7) % P:
        raise InvalidKey("public key is not on the curve")
    if (y & 1) != (data[0] & 1):
        y = P - y
    return x, y


# ── encodings ────────────────────────────────────────────────────────────────────────────────────────────
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class InvalidKey(ValueError):
    """An extended key or address that cannot be used, with the reason."""


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def b58check_encode(payload: bytes) -> str:
    data = payload + sha256d(payload)[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58check_decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = B58.find(char)
        if index < 0:
            raise InvalidKey(f"{char!r} is not a base58 character")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    data = b"\0" * (len(text) - len(text.lstrip("1"))) + body
    if len(data) < 5 or sha256d(data[:-4])[:4] != data[-4:]:
        raise InvalidKey("base58 checksum mismatch")
    return data[:-4]


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: Sequence[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int] | None:
    acc, bits, out, maxv = 0, 0, [], (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to_bits - bits)) & maxv)
    elif not pad and (bits >= from_bits or (acc << (to_bits - bits)) & maxv):
        return None
    return out


def segwit_address(hrp: str, version: int, program: bytes) -> str:
    """BIP173 (v0) / BIP350 (v1+, bech32m) address."""
    const = 1 if version == 0 else 0x2BC830A3
    data = [version, *(_convert_bits(program, 8, 5, True) or [])]
    checksum = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    return hrp + "1" + "".join(BECH32[d] for d in data + [(checksum >> 5 * (5 - i)) & 31 for i in range(6)])


def decode_segwit_address(address: str) -> tuple[str, int, bytes]:
    if address.lower() != address and address.upper() != address:
        raise InvalidKey("mixed-case bech32 address")
    address = address.lower()
    pos = address.rfind("1")
    if pos < 1 or pos + 7 > len(address) or len(address) > 90:
        raise InvalidKey("not a bech32 address")
    hrp, data = address[:pos], [BECH32.find(c) for c in address[pos + 1:]]
    if -1 in data:
        raise InvalidKey("invalid bech32 character")
    version = data[0]
    const = 1 if version == 0 else 0x2BC830A3
    if _polymod(_hrp_expand(hrp) + data) != const:
        raise InvalidKey("bech32 checksum mismatch")
    program = _convert_bits(data[1:-6], 5, 8, False)
    if program is None or not 2 <= len(program) <= 40 or (version == 0 and len(program) not in (20, 32)):
        raise InvalidKey("invalid witness program")
    return hrp, version, bytes(program)


# ── extended keys ────────────────────────────────────────────────────────────────────────────────────────
HARDENED = 0x80000000
# SLIP-132 version bytes → (network, script type, is private)
VERSIONS: dict[bytes, tuple[str, str, bool]] = {
    bytes.fromhex("0488b21e"): ("mainnet", "p2pkh", False), bytes.fromhex("0488ade4"): ("mainnet", "p2pkh", True),
    bytes.fromhex("049d7cb2"): ("mainnet", "p2sh-p2wpkh", False),
    bytes.fromhex("049d7878"): ("mainnet", "p2sh-p2wpkh", True),
    bytes.fromhex("04b24746"): ("mainnet", "p2wpkh", False), bytes.fromhex("04b2430c"): ("mainnet", "p2wpkh", True),
    bytes.fromhex("043587cf"): ("testnet", "p2pkh", False), bytes.fromhex("04358394"): ("testnet", "p2pkh", True),
    bytes.fromhex("044a5262"): ("testnet", "p2sh-p2wpkh", False),
    bytes.fromhex("044a4e28"): ("testnet", "p2sh-p2wpkh", True),
    bytes.fromhex("045f1cf6"): ("testnet", "p2wpkh", False), bytes.fromhex("045f18bc"): ("testnet", "p2wpkh", True),
}
VERSION_OF = {value: key for key, value in VERSIONS.items()}
SCRIPT_TYPES = ("p2pkh", "p2sh-p2wpkh", "p2wpkh")
PURPOSE = {"p2pkh": 44, "p2sh-p2wpkh": 49, "p2wpkh": 84}
NETWORK_PREFIX = {"mainnet": (0x00, 0x05, "bc"), "testnet": (0x6F, 0xC4, "tb")}


@dataclass(frozen=True)
class ExtendedKey:
    network: str
    script_type: str
    depth: int
    fingerprint: bytes
    child_number: int
    chain_code: bytes
    private_key: int | None  # None for a watch-only (public) key
    public_point: tuple[int, int]

    @property
    def public_key(self) -> bytes:
        return _compress(self.public_point)

    def serialize(self, private: bool = False) -> str:
        version = VERSION_OF[(self.network, self.script_type, private)]
        if private:
            if self.private_key is None:
                raise InvalidKey("a public key has no private serialization")
            key = b"\0" + self.private_key.to_bytes(32, "big")
        else:
            key = self.public_key
        return b58check_encode(version + bytes([self.depth]) + self.fingerprint
                               + self.child_number.to_bytes(4, "big") + self.chain_code + key)

    def neutered(self) -> ExtendedKey:
        return ExtendedKey(self.network, self.script_type, self.depth, self.fingerprint, self.child_number,
                           self.chain_code, None, self.public_point)

    def child(self, index: int) -> ExtendedKey:
        """CKDpriv / CKDpub (BIP32)."""
        if index >= HARDENED:
            if self.private_key is None:
                raise InvalidKey("hardened derivation needs the private key")
            data = b"\0" + self.private_key.to_bytes(32, "big") + index.to_bytes(4, "big")
        else:
            data = self.public_key + index.to_bytes(4, "big")
        digest = hmac.new(self.chain_code, data, hashlib.sha512).digest()
        tweak = int.from_bytes(digest[:32], "big")
        if tweak >= N:
            raise InvalidKey(f"child {index} is invalid (BIP32: skip to the next index)")
        fingerprint = hash160(self.public_key)[:4]
        if self.private_key is not None:
            key = (tweak + self.private_key) % N
            if key == 0:
                raise InvalidKey(f"child {index} is invalid (BIP32: skip to the next index)")
            point = _multiply(key)
            assert point is not None
            return ExtendedKey(self.network, self.script_type, self.depth + 1, fingerprint, index,
                               digest[32:], key, point)
        point = _add(_multiply(tweak), self.public_point)
        if point is None:
            raise InvalidKey(f"child {index} is invalid (BIP32: skip to the next index)")
        return ExtendedKey(self.network, self.script_type, self.depth + 1, fingerprint, index, digest[32:],
                           None, point)

    def derive(self, path: str) -> ExtendedKey:
        """'m/84h/0h/0h' or '0/5' (relative)."""
        key = self
        for part in path.strip().removeprefix("m").strip("/").split("/"):
            if not part:
                continue
            hardened = part[-1] in "hH'"
            index = int(part[:-1] if hardened else part)
            key = key.child(index + (HARDENED if hardened else 0))
        return key

    def address(self) -> str:
        return address_of(self.public_key, self.script_type, self.network)


def address_of(public_key: bytes, script_type: str, network: str = "mainnet") -> str:
    p2pkh, p2sh, hrp = NETWORK_PREFIX[network]
    h160 = hash160(public_key)
    if script_type == "p2pkh":
        return b58check_encode(bytes([p2pkh]) + h160)
    if script_type == "p2sh-p2wpkh":
        return b58check_encode(bytes([p2sh]) + hash160(b"\x00\x14" + h160))
    if script_type == "p2wpkh":
        return segwit_address(hrp, 0, h160)
    raise InvalidKey(f"unknown script type {script_type!r}; expected one of {', '.join(SCRIPT_TYPES)}")


def master_key(seed: bytes, network: str = "mainnet", script_type: str = "p2pkh") -> ExtendedKey:
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key = int.from_bytes(digest[:32], "big")
    if not 0 < key < N:
        raise InvalidKey("seed gives an invalid master key")
    point = _multiply(key)
    assert point is not None
    return ExtendedKey(network, script_type, 0, b"\0\0\0\0", 0, digest[32:], key, point)


def mnemonic_to_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """BIP39 seed (the checksum word is not validated: a watch-only tool never handles real mnemonics)."""
    words = " ".join(mnemonic.split())
    return hashlib.pbkdf2_hmac("sha512", words.encode(), f"mnemonic{passphrase}".encode(), 2048)


def parse_extended_key(text: str, script_type: str | None = None) -> ExtendedKey:
    """An xpub/ypub/zpub (or tpub/upub/vpub, or a private key for tests); `script_type` overrides the version
    bytes' implication (Ledger Live exports every account as xpub)."""
    data = b58check_decode(text.strip())
    if len(data) != 78:
        raise InvalidKey(f"an extended key is 78 bytes, this one is {len(data)}")
    version = VERSIONS.get(data[:4])
    if version is None:
        raise InvalidKey(f"unknown extended key version {data[:4].hex()}")
    network, implied, private = version
    chosen = script_type or implied
    if chosen not in SCRIPT_TYPES:
        raise InvalidKey(f"unknown script type {chosen!r}; expected one of {', '.join(SCRIPT_TYPES)}")
    depth, fingerprint = data[4], data[5:9]
    child_number, chain_code, key = int.from_bytes(data[9:13], "big"), data[13:45], data[45:78]
    if private:
        if key[0] != 0:
            raise InvalidKey("malformed private key")
        secret = int.from_bytes(key[1:], "big")
        if not 0 < secret < N:
            raise InvalidKey("private key out of range")
        point = _multiply(secret)
        assert point is not None
        return ExtendedKey(network, chosen, depth, fingerprint, child_number, chain_code, secret, point)
    point = _decompress(key)
    assert point is not None
    return ExtendedKey(network, chosen, depth, fingerprint, child_number, chain_code, None, point)


# ── addresses of a watch-only account ────────────────────────────────────────────────────────────────────
RECEIVE, CHANGE = 0, 1


@dataclass(frozen=True)
class DerivedAddress:
    address: str
    chain: int  # 0 receive, 1 change
    index: int
    path: str  # relative to the account key, e.g. '0/5'
    script_type: str


def derive_addresses(account: ExtendedKey, chain: int, start: int, count: int) -> list[DerivedAddress]:
    branch = account.child(chain)
    out = []
    for index in range(start, start + count):
        try:
            child = branch.child(index)
        except InvalidKey:  # probability < 2^-127; BIP32 says skip it
            continue
        out.append(DerivedAddress(child.address(), chain, index, f"{chain}/{index}", account.script_type))
    return out


def discover(account: ExtendedKey, is_used: Callable[[list[str]], list[bool]], gap_limit: int = 20,
             batch: int = 20, max_addresses: int = 100_000) -> list[DerivedAddress]:
    """BIP44 account discovery on both chains: derive until `gap_limit` consecutive unused addresses.

    Returns every address up to and including the gap (the unused tail is where the next payment lands, so it
    is watched too). `is_used` is the explorer query, asked for a batch at a time."""
    found: list[DerivedAddress] = []
    for chain in (RECEIVE, CHANGE):
        start, unused_run = 0, 0
        while unused_run < gap_limit and start < max_addresses:
            addresses = derive_addresses(account, chain, start, batch)
            used = is_used([a.address for a in addresses])
            for address, flag in zip(addresses, used, strict=True):
                if unused_run >= gap_limit:
                    break
                found.append(address)
                unused_run = 0 if flag else unused_run + 1
            start += batch
    return found


def address_script_type(address: str) -> tuple[str, str]:
    """(network, script type) of a plain address; raises InvalidKey with the reason."""
    text = address.strip()
    if text.lower().startswith(("bc1", "tb1")):
        hrp, version, program = decode_segwit_address(text)
        network = "mainnet" if hrp == "bc" else "testnet"
        if version == 0:
            return network, "p2wpkh" if len(program) == 20 else "p2wsh"
        return network, "p2tr" if version == 1 else f"witness_v{version}"
    data = b58check_decode(text)
    if len(data) != 21:
        raise InvalidKey("a base58 address is 21 bytes")
    kinds = {0x00: ("mainnet", "p2pkh"), 0x05: ("mainnet", "p2sh"), 0x6F: ("testnet", "p2pkh"),
             0xC4: ("testnet", "p2sh")}
    if data[0] not in kinds:
        raise InvalidKey(f"unknown address version {data[0]}")
    return kinds[data[0]]
