//! BLAKE3 of a whole upload, computed incrementally while bytes arrive and resumable after a
//! crash without reading the file again.
//!
//! The input is cut into 64 KiB blocks (64 BLAKE3 chunks). Each finished block's chaining value
//! is merged into a stack exactly like BLAKE3's own incremental hasher does with chunks, using
//! the `blake3::hazmat` subtree API. The unfinished block is a `blake3::Hasher` of its own, so
//! bytes are hashed where they lie, never copied. The checkpoint stored with every acknowledged
//! offset is just the stack (at most 54 values of 32 bytes); on resume the unfinished tail block
//! (at most 64 KiB) is read back from the partial file.

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

/// Bytes per block: 64 chunks, enough for BLAKE3's SIMD to hash chunks in parallel.
pub const BLOCK: usize = 64 * 1024;
const CHECKPOINT_VERSION: u8 = 1;

/// A BLAKE3 hasher whose state can be checkpointed at any offset.
#[derive(Clone, Debug)]
pub struct ResumableHasher {
    stack: Vec<ChainingValue>,
    /// Finished blocks merged into `stack`.
    blocks: u64,
    /// The block after them, fed `current_len` bytes so far (up to a whole block: a full block
    /// is merged only once more input follows, since the last block of the whole input may be
    /// the root and is finalized differently).
    current: blake3::Hasher,
    current_len: usize,
}

/// Why a checkpoint could not be restored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("corrupt hash checkpoint: {0}")]
pub struct CheckpointError(&'static str);

impl Default for ResumableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl ResumableHasher {
    /// A hasher at offset 0.
    pub fn new() -> Self {
        Self::at_block(Vec::new(), 0)
    }

    fn at_block(stack: Vec<ChainingValue>, blocks: u64) -> Self {
        Self {
            stack,
            blocks,
            current: block_hasher(blocks),
            current_len: 0,
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.blocks * BLOCK as u64 + self.current_len as u64
    }

    /// True before any byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Merges the full current block into the stack and starts the next one.
    fn finish_block(&mut self) {
        let mut cv = self.current.finalize_non_root();
        self.blocks += 1;
        let mut total = self.blocks;
        while total & 1 == 0 {
            let left = self.stack.pop().expect("stack holds one value per set bit");
            cv = merge_subtrees_non_root(&left, &cv, Mode::Hash);
            total >>= 1;
        }
        self.stack.push(cv);
        self.current = block_hasher(self.blocks);
        self.current_len = 0;
    }

    /// Feeds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.current_len == BLOCK {
                self.finish_block();
            }
            let take = (BLOCK - self.current_len).min(data.len());
            self.current.update(&data[..take]);
            self.current_len += take;
            data = &data[take..];
        }
    }

    /// The BLAKE3 hash of everything fed, identical to `blake3::hash` of the whole input.
    pub fn finalize(&self) -> blake3::Hash {
        let Some((root_left, rest)) = self.stack.split_first() else {
            // One block at most: the current block is the whole input, its hash the root.
            return self.current.finalize();
        };
        let mut cv = self.current.finalize_non_root();
        for left in rest.iter().rev() {
            cv = merge_subtrees_non_root(left, &cv, Mode::Hash);
        }
        merge_subtrees_root(root_left, &cv, Mode::Hash)
    }

    /// The checkpoint: everything but the current block, which the caller can read back from
    /// the file at [`Self::tail_offset`].
    pub fn checkpoint(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + 32 * self.stack.len());
        out.push(CHECKPOINT_VERSION);
        out.extend_from_slice(&self.blocks.to_le_bytes());
        out.push(self.stack.len() as u8);
        for cv in &self.stack {
            out.extend_from_slice(cv);
        }
        out
    }

    /// Where the unfinished tail starts, for a checkpoint taken at `offset`.
    pub fn tail_offset(checkpoint: &[u8]) -> Result<u64, CheckpointError> {
        let (blocks, _) = Self::parse(checkpoint)?;
        Ok(blocks * BLOCK as u64)
    }

    fn parse(checkpoint: &[u8]) -> Result<(u64, Vec<ChainingValue>), CheckpointError> {
        let (&version, rest) = checkpoint.split_first().ok_or(CheckpointError("empty"))?;
        if version != CHECKPOINT_VERSION {
            return Err(CheckpointError("unknown version"));
        }
        if rest.len() < 9 {
            return Err(CheckpointError("truncated"));
        }
        let blocks = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let count = rest[8] as usize;
        let cvs = &rest[9..];
        if cvs.len() != count * 32 || count != blocks.count_ones() as usize {
            return Err(CheckpointError("stack does not match block count"));
        }
        let stack = cvs
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        Ok((blocks, stack))
    }

    /// Rebuilds the hasher from a checkpoint and the tail bytes that followed it.
    pub fn restore(checkpoint: &[u8], tail: &[u8]) -> Result<Self, CheckpointError> {
        let (blocks, stack) = Self::parse(checkpoint)?;
        if tail.len() > BLOCK || (blocks > 0 && tail.is_empty()) {
            return Err(CheckpointError("tail length out of range"));
        }
        let mut hasher = Self::at_block(stack, blocks);
        hasher.update(tail);
        Ok(hasher)
    }
}

/// A hasher for the block after `blocks` finished ones (a subtree at that input offset).
fn block_hasher(blocks: u64) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(blocks * BLOCK as u64);
    hasher
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Feeds `len` bytes in pieces of `piece`, checkpointing and restoring after each piece,
    /// and compares with one-shot BLAKE3.
    fn check(len: usize, piece: usize) {
        let data = input(len);
        let mut hasher = ResumableHasher::new();
        for (i, part) in data.chunks(piece.max(1)).enumerate() {
            hasher.update(part);
            if i % 3 == 0 {
                let cp = hasher.checkpoint();
                let at = ResumableHasher::tail_offset(&cp).unwrap() as usize;
                hasher = ResumableHasher::restore(&cp, &data[at..hasher.len() as usize]).unwrap();
            }
        }
        assert_eq!(hasher.len(), len as u64);
        assert_eq!(
            hasher.finalize(),
            blake3::hash(&data),
            "len {len} piece {piece}"
        );
    }

    #[test]
    fn matches_one_shot_blake3_at_every_boundary() {
        for len in [
            0,
            1,
            1023,
            1024,
            1025,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK,
            2 * BLOCK + 7,
            3 * BLOCK,
            4 * BLOCK,
            5 * BLOCK - 1,
            8 * BLOCK + 1024,
            17 * BLOCK + 333,
        ] {
            for piece in [1000, BLOCK, BLOCK + 1, 3 * BLOCK + 5, len.max(1)] {
                check(len, piece);
            }
        }
    }

    #[test]
    fn corrupt_checkpoints_are_rejected() {
        let mut h = ResumableHasher::new();
        h.update(&input(3 * BLOCK + 10));
        let cp = h.checkpoint();
        assert!(ResumableHasher::restore(&[], &[]).is_err());
        assert!(ResumableHasher::restore(&cp[..cp.len() - 1], &[1]).is_err());
        let mut bad = cp.clone();
        bad[0] = 9;
        assert!(ResumableHasher::restore(&bad, &[1]).is_err());
        assert!(
            ResumableHasher::restore(&cp, &[]).is_err(),
            "tail must not be empty"
        );
    }
}
