//! The records themselves: a pure function of `(seed, id, value_bytes)` (see the
//! crate docs for the format). No plugin API here, so that the native
//! `orders-file` example can compile this very file (`#[path]`) and write the
//! bytes the plugin produces.

/// Customer names; `customer` is one of these and `email` is `<name>@example.com`.
pub const NAMES: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil",
];

/// ISO 3166-1 alpha-2 codes; `XX` stands for "unknown".
pub const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "XX"];

/// The `id`-th output of SplitMix64 seeded with `seed`.
pub fn mix(seed: u64, id: u64) -> u64 {
    let mut z = seed.wrapping_add(id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Largest `value_bytes` accepted (Kafka's default `message.max.bytes` is about this).
pub const MAX_VALUE_BYTES: u64 = 1 << 20;

/// `,"pad":""`: what the padding field costs before its first pad byte.
const PAD_FIELD_OVERHEAD: usize = 9;

/// Writes the JSON value of order `id`, piece by piece, through `put`.
pub fn write_order(seed: u64, id: u64, put: impl FnMut(&[u8])) {
    write_order_padded(seed, id, 0, put);
}

/// Writes the JSON value of order `id` padded to `value_bytes` (see the module
/// docs; `0` = no padding), piece by piece, through `put`.
pub fn write_order_padded(seed: u64, id: u64, value_bytes: usize, put: impl FnMut(&[u8])) {
    let h = mix(seed, id);
    let name = NAMES[(h & 15) as usize];
    let country = COUNTRIES[((h >> 8) & 7) as usize];
    let amount_cents = 100 + (h >> 16) % 99_901;
    let mut digits = itoa::Buffer::new();
    let mut out = Counted { put, written: 0 };
    out.put(br#"{"id":"#);
    out.put(digits.format(id).as_bytes());
    out.put(br#","customer":""#);
    out.put(name.as_bytes());
    out.put(br#"","email":""#);
    out.put(name.as_bytes());
    out.put(br#"@example.com","amount_cents":"#);
    out.put(digits.format(amount_cents).as_bytes());
    out.put(br#","country":""#);
    out.put(country.as_bytes());
    out.put(b"\"");
    // The closing brace is still to come.
    if let Some(pad) = value_bytes.checked_sub(out.written + 1 + PAD_FIELD_OVERHEAD) {
        const XS: [u8; 256] = [b'x'; 256];
        out.put(br#","pad":""#);
        let mut left = pad;
        while left > 0 {
            let n = left.min(XS.len());
            out.put(&XS[..n]);
            left -= n;
        }
        out.put(b"\"");
    }
    out.put(b"}");
}

/// A writer that counts the bytes it passes on.
struct Counted<F> {
    put: F,
    written: usize,
}

impl<F: FnMut(&[u8])> Counted<F> {
    fn put(&mut self, piece: &[u8]) {
        self.written += piece.len();
        (self.put)(piece);
    }
}
