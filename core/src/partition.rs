//! Key -> partition routing, identical to TopGun's.
//!
//! TopGun splits every map into [`PARTITION_COUNT`] partitions and routes a
//! key with 32-bit FNV-1a over the key's UTF-16 code units (what JavaScript's
//! `charCodeAt` yields), modulo the partition count. Using UTF-16 units, not
//! UTF-8 bytes, is what keeps the Rust and TypeScript servers in agreement
//! for non-ASCII keys.

/// Number of partitions of every map (a prime, as in TopGun and Hazelcast).
pub const PARTITION_COUNT: u32 = 271;

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a over the UTF-16 code units of `key`.
///
/// Each code unit is folded in as one value (`hash ^= unit; hash *= prime`),
/// exactly as TopGun's `hashString` does. Cost: O(length of key), no
/// allocation.
#[must_use]
pub fn fnv1a32_utf16(key: &str) -> u32 {
    fnv1a32_units(key.encode_utf16())
}

/// [`fnv1a32_utf16`] over UTF-16 code units given as they are: for a key
/// held as UTF-16 that need not be well-formed Unicode (any JavaScript
/// string, lone surrogates included, which TopGun routes like any other).
#[must_use]
pub fn fnv1a32_units(units: impl IntoIterator<Item = u16>) -> u32 {
    units.into_iter().fold(FNV_OFFSET, |hash, unit| {
        (hash ^ u32::from(unit)).wrapping_mul(FNV_PRIME)
    })
}

/// The partition of a key held as UTF-16 code units ([`fnv1a32_units`]);
/// equal to [`partition_for_key`] for well-formed keys.
#[must_use]
pub fn partition_for_units(units: impl IntoIterator<Item = u16>) -> u32 {
    fnv1a32_units(units) % PARTITION_COUNT
}

/// The partition (0..[`PARTITION_COUNT`]) that owns `key`.
///
/// Cost: O(length of key), no allocation.
#[must_use]
pub fn partition_for_key(key: &str) -> u32 {
    fnv1a32_utf16(key) % PARTITION_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topgun_hash_vectors() {
        assert_eq!(fnv1a32_utf16("hello"), 1_335_831_723);
        assert_eq!(fnv1a32_utf16("key1"), 927_623_783);
        assert_eq!(fnv1a32_utf16(""), 2_166_136_261);
        assert_eq!(fnv1a32_utf16("key1:100:0:test"), 3_988_528_110);
    }

    #[test]
    fn topgun_partition_vectors() {
        assert_eq!(partition_for_key("hello"), 95);
        assert_eq!(partition_for_key("key1"), 268);
        assert_eq!(partition_for_key(""), 199);
    }

    #[test]
    fn hashes_utf16_units_not_utf8_bytes() {
        // "é" is one UTF-16 unit (0x00E9) but two UTF-8 bytes.
        let by_unit = (FNV_OFFSET ^ 0xE9).wrapping_mul(FNV_PRIME);
        assert_eq!(fnv1a32_utf16("é"), by_unit);
        // An astral character is a surrogate pair: two units.
        let pair = [0xD83Du32, 0xDE00];
        let expected = pair
            .iter()
            .fold(FNV_OFFSET, |h, u| (h ^ u).wrapping_mul(FNV_PRIME));
        assert_eq!(fnv1a32_utf16("\u{1F600}"), expected);
    }

    #[test]
    fn lone_surrogates_route_as_topgun_routes_them() {
        // TopGun hashes whatever UTF-16 units a JavaScript string holds.
        assert_eq!(partition_for_units([0xD800]), 166);
        assert_eq!(partition_for_units([0xDFFF]), 196);
        // U+FFFD, what a lossy conversion would have made of both.
        assert_eq!(partition_for_key("\u{FFFD}"), 232);
        assert_eq!(
            partition_for_units("k\u{1F600}".encode_utf16()),
            partition_for_key("k\u{1F600}")
        );
    }

    #[test]
    fn partitions_are_in_range() {
        for i in 0..10_000 {
            assert!(partition_for_key(&format!("k{i}")) < PARTITION_COUNT);
        }
    }
}
