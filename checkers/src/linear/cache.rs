//! The memo of visited search configurations: (set of linearized operations, model state).
//!
//! Lowe's improvement to Wing & Gong: a configuration already explored cannot lead anywhere
//! new, so the search skips it. Sets are stored compactly — the length of the fully
//! linearized prefix plus the few words after it — in one flat arena, so memory per entry stays
//! small even for histories of millions of operations. Their hash is maintained incrementally
//! by the search (Zobrist hashing: one random word per operation, XORed in and out).

use super::search::Bits;
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hash};

/// Visited configurations of one partition's search.
pub struct Cache<S> {
    /// Per entry: (low, start of its tail in `words`, tail length, start of its indeterminate
    /// list in `info`, its length).
    keys: Vec<(u32, u32, u32, u32, u32)>,
    words: Vec<u64>,
    info: Vec<u32>,
    states: Vec<S>,
    hashes: Vec<u64>,
    table: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<S: Eq + Hash + Clone> Default for Cache<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Eq + Hash + Clone> Cache<S> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            keys: Vec::new(),
            words: Vec::new(),
            info: Vec::new(),
            states: Vec::new(),
            hashes: Vec::new(),
            table: HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// Number of configurations stored.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Approximate bytes in use (heap parts of states not counted).
    pub fn bytes(&self) -> usize {
        self.states.capacity() * (std::mem::size_of::<S>() + 20 + 8 + 8)
            + self.words.capacity() * 8
            + self.info.capacity() * 4
    }

    /// Inserts (set, state) unless present. Returns true when the configuration is new.
    pub fn insert(&mut self, bits: &mut Bits, state: &S) -> bool {
        let h = bits.hash()
            ^ self
                .hasher
                .hash_one(state)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let low = bits.low() as u32;
        let info_start = self.info.len();
        self.info.extend_from_slice(bits.info());
        let info_len = self.info.len() - info_start;
        let tail = bits.tail();
        let (keys, words, info, states) = (&self.keys, &self.words, &self.info, &self.states);
        let mine = &info[info_start..];
        let found = self.table.find(h, |&i| {
            let (l, start, len, istart, ilen) = keys[i as usize];
            l == low
                && words[start as usize..(start + len) as usize] == *tail
                && info[istart as usize..(istart + ilen) as usize] == *mine
                && states[i as usize] == *state
        });
        if found.is_some() {
            self.info.truncate(info_start);
            return false;
        }
        let idx = self.states.len() as u32;
        self.keys.push((
            low,
            self.words.len() as u32,
            tail.len() as u32,
            info_start as u32,
            info_len as u32,
        ));
        self.words.extend_from_slice(tail);
        self.states.push(state.clone());
        self.hashes.push(h);
        let hashes = &self.hashes;
        self.table.insert_unique(h, idx, |&i| hashes[i as usize]);
        true
    }
}

/// The Zobrist word of operation `i` (splitmix64 of its index).
#[inline]
pub fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
