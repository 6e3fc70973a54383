//! The memo of visited search configurations: (set of linearized operations, model state).
//!
//! Lowe's improvement to Wing & Gong: a configuration already explored cannot lead anywhere
//! new, so the search skips it. faultline goes one step further with *subsumption*: two
//! configurations with the same linearized determinate operations and the same state differ
//! only in which indeterminate operations they have used up; one that has used a subset of the
//! other's can do everything the other can (it has more left to use). So once a configuration
//! is fully explored and failed, every configuration it subsumes fails too and is skipped.
//! This collapses the exponential number of "which timed-out writes happened" combinations
//! that make info-heavy histories hard for Knossos and Porcupine.
//!
//! Determinate sets are stored compactly — the length of the fully linearized prefix plus the
//! few words after it — and indeterminate ones as (class, count) pairs, all in flat arenas.

use super::search::Bits;
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hash};

const NONE: u32 = u32::MAX;

/// How many recent members of a group are checked for subsumption.
const SUBSUMPTION_SCAN: usize = 24;

/// What [`Cache::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// A new configuration, with its id (to mark it finished later).
    New(u32),
    /// Seen before, or subsumed by a configuration that failed: skip it.
    Seen,
}

/// Visited configurations of one partition's search.
pub struct Cache<S> {
    /// Per group (same determinate set and state): (low, tail start, tail length, first member).
    groups: Vec<(u32, u32, u32, u32)>,
    group_hashes: Vec<u64>,
    words: Vec<u64>,
    states: Vec<S>,
    /// Per member (one set of used indeterminate ops): (pairs start, pairs length, next member
    /// of the group, finished?).
    members: Vec<(u32, u32, u32, bool)>,
    pairs: Vec<u32>,
    member_group: Vec<u32>,
    member_hashes: Vec<u64>,
    /// Members by (group, pairs): exact lookups.
    exact: HashTable<u32>,
    /// Groups by (determinate set, state).
    table: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<S: Eq + Hash + Clone> Default for Cache<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// True when the (class, count) pairs `a` use no more of any class than `b` does.
fn subset(a: &[u32], b: &[u32]) -> bool {
    let mut j = 0;
    for p in a.chunks_exact(2) {
        while j < b.len() && b[j] < p[0] {
            j += 2;
        }
        if j >= b.len() || b[j] != p[0] || b[j + 1] < p[1] {
            return false;
        }
    }
    true
}

impl<S: Eq + Hash + Clone> Cache<S> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            groups: Vec::new(),
            group_hashes: Vec::new(),
            words: Vec::new(),
            states: Vec::new(),
            members: Vec::new(),
            pairs: Vec::new(),
            member_group: Vec::new(),
            member_hashes: Vec::new(),
            exact: HashTable::new(),
            table: HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// An empty cache with room for `configs` configurations: a search that will store about
    /// that many (a linearizable partition stores about one per operation) grows no table.
    pub fn with_capacity(configs: usize) -> Self {
        Cache {
            groups: Vec::with_capacity(configs),
            group_hashes: Vec::with_capacity(configs),
            words: Vec::new(),
            states: Vec::with_capacity(configs),
            members: Vec::with_capacity(configs),
            pairs: Vec::new(),
            member_group: Vec::with_capacity(configs),
            member_hashes: Vec::with_capacity(configs),
            exact: HashTable::with_capacity(configs),
            table: HashTable::with_capacity(configs),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// Number of configurations stored.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Approximate bytes in use (heap parts of states not counted).
    pub fn bytes(&self) -> usize {
        self.groups.capacity() * (16 + 8 + 8 + std::mem::size_of::<S>())
            + self.words.capacity() * 8
            + self.members.capacity() * (16 + 4 + 8 + 8)
            + self.pairs.capacity() * 4
    }

    /// Looks up (set, state); records it as new (and in progress) unless it was seen or is
    /// subsumed by a finished configuration. Only the most recent members of a group are
    /// scanned for subsumption: a miss only costs exploring again, never a wrong answer.
    pub fn insert(&mut self, bits: &mut Bits, state: &S) -> Visit {
        let h = bits.hash()
            ^ self
                .hasher
                .hash_one(state)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let low = bits.low() as u32;
        let tail = bits.tail();
        let (groups, words, states) = (&self.groups, &self.words, &self.states);
        let found = self.table.find(h, |&g| {
            let (l, start, len, _) = groups[g as usize];
            l == low
                && words[start as usize..(start + len) as usize] == *tail
                && states[g as usize] == *state
        });
        let group = match found {
            Some(&g) => g,
            None => {
                let g = self.groups.len() as u32;
                self.groups
                    .push((low, self.words.len() as u32, tail.len() as u32, NONE));
                self.words.extend_from_slice(tail);
                self.states.push(state.clone());
                self.group_hashes.push(h);
                let hashes = &self.group_hashes;
                self.table.insert_unique(h, g, |&i| hashes[i as usize]);
                g
            }
        };
        let info = bits.info();
        let he = (group as u64).wrapping_mul(0xA24B_AED4_963E_E407) ^ self.hasher.hash_one(info);
        let (members, pairs) = (&self.members, &self.pairs);
        let pairs_of = |m: u32| {
            let (start, len, _, _) = members[m as usize];
            &pairs[start as usize..(start + len) as usize]
        };
        if self
            .exact
            .find(he, |&m| {
                self.member_group[m as usize] == group && pairs_of(m) == info
            })
            .is_some()
        {
            return Visit::Seen;
        }
        let mut m = self.groups[group as usize].3;
        let mut scanned = 0;
        while m != NONE && scanned < SUBSUMPTION_SCAN {
            let (_, _, next, finished) = members[m as usize];
            if finished && subset(pairs_of(m), info) {
                return Visit::Seen;
            }
            m = next;
            scanned += 1;
        }
        let member = self.members.len() as u32;
        let first = self.groups[group as usize].3;
        self.members
            .push((self.pairs.len() as u32, info.len() as u32, first, false));
        self.pairs.extend_from_slice(info);
        self.member_group.push(group);
        self.member_hashes.push(he);
        self.groups[group as usize].3 = member;
        let hashes = &self.member_hashes;
        self.exact
            .insert_unique(he, member, |&i| hashes[i as usize]);
        Visit::New(member)
    }

    /// Marks a configuration as fully explored without success.
    pub fn finish(&mut self, id: u32) {
        self.members[id as usize].3 = true;
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
