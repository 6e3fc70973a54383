//! Integer → id maps for the interners of the check step (the compact reader's values,
//! `history/compact.rs`, and the models' [`crate::model::Interner`]).
//!
//! A history's integers are mostly dense — a run's written values count up from 0 — and
//! there can be millions of them: hashing each into a map that keeps growing costs more than
//! the rest of interning. [`IntIds`] finds non-negative integers below a bound proportional to
//! the number of distinct values interned so far in a table indexed by the integer, and every
//! other integer in a hash map.

/// "No id" in the table.
const NO_ID: u32 = u32::MAX;
/// The table always covers `0..FLOOR`…
const FLOOR: usize = 4096;
/// …and grows (doubling) to cover an integer below this many times the distinct values.
const SPREAD: usize = 4;

/// The ids of integers: a table for dense non-negative ones, a hash map for the others. An
/// integer is in one of the two, never both: when the table grows over integers the map
/// holds, they move into it with their ids.
#[derive(Debug, Default, Clone)]
pub(crate) struct IntIds {
    /// The ids of `0..dense.len()` ([`NO_ID`]: none yet).
    dense: Vec<u32>,
    /// The ids of every other integer.
    sparse: hashbrown::HashMap<i64, u32>,
}

impl IntIds {
    /// The id of `n`, if it has one. `distinct` is how many values the caller has interned:
    /// the table grows to cover `n` while `n` stays below [`SPREAD`] times that.
    pub(crate) fn get(&mut self, n: i64, distinct: usize) -> Option<u32> {
        if let Ok(i) = usize::try_from(n) {
            if i >= self.dense.len() && i < FLOOR.max(SPREAD.saturating_mul(distinct)) {
                self.grow(i);
            }
            if let Some(&id) = self.dense.get(i) {
                return (id != NO_ID).then_some(id);
            }
        }
        self.sparse.get(&n).copied()
    }

    /// Gives `n` the id `id` (after [`IntIds::get`] found none).
    pub(crate) fn insert(&mut self, n: i64, id: u32) {
        match usize::try_from(n) {
            Ok(i) if i < self.dense.len() => self.dense[i] = id,
            _ => {
                self.sparse.insert(n, id);
            }
        }
    }

    /// Every integer with its id (in no particular order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, &id)| id != NO_ID)
            .map(|(n, &id)| (n as i64, id));
        dense.chain(self.sparse.iter().map(|(&n, &id)| (n, id)))
    }

    /// Grows the table to cover `i`, moving the integers it now covers out of the map.
    fn grow(&mut self, i: usize) {
        let len = (i + 1).next_power_of_two().max(FLOOR);
        self.dense.resize(len, NO_ID);
        let dense = &mut self.dense;
        self.sparse.retain(|&k, &mut id| match usize::try_from(k) {
            Ok(k) if k < len => {
                dense[k] = id;
                false
            }
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An integer given an id while sparse (in the map) keeps it when the table grows over it;
    /// negative and huge integers stay in the map; `iter` lists each integer once.
    #[test]
    fn int_ids_keep_their_ids_when_the_table_grows_over_them() {
        let mut ids = IntIds::default();
        let mut distinct = 0;
        let give = |ids: &mut IntIds, n: i64, distinct: &mut usize| -> u32 {
            if let Some(id) = ids.get(n, *distinct) {
                return id;
            }
            let id = *distinct as u32;
            ids.insert(n, id);
            *distinct += 1;
            id
        };
        let far = give(&mut ids, 100_000, &mut distinct);
        assert!(ids.sparse.contains_key(&100_000), "sparse when given");
        let neg = give(&mut ids, -7, &mut distinct);
        let big = give(&mut ids, i64::MAX, &mut distinct);
        let small: Vec<u32> = (0..40_000)
            .map(|n| give(&mut ids, n, &mut distinct))
            .collect();
        assert_eq!(give(&mut ids, 100_000, &mut distinct), far);
        assert!(ids.dense.len() > 100_000, "the table grew over 100000");
        assert!(!ids.sparse.contains_key(&100_000), "moved out of the map");
        assert_eq!(give(&mut ids, -7, &mut distinct), neg);
        assert_eq!(give(&mut ids, i64::MAX, &mut distinct), big);
        for (n, &id) in small.iter().enumerate() {
            assert_eq!(give(&mut ids, n as i64, &mut distinct), id);
        }
        assert_eq!(distinct, 40_003);
        let mut all: Vec<(i64, u32)> = ids.iter().collect();
        all.sort();
        assert_eq!(all.len(), 40_003);
        assert!(all.contains(&(100_000, far)) && all.contains(&(-7, neg)));
    }
}
