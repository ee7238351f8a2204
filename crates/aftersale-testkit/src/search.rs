//! Seeded generation and shrinking, shared by [`crate::prop`] and [`crate::diff`].

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::generate::Generated;

/// Most candidate evaluations one shrink may spend.
pub const SHRINK_BUDGET: usize = 2_000;

/// A runner whose random stream is fixed by `seed`.
pub fn seeded_runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(i as u64)
            .rotate_left(17);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Where a draw starts: replaying it gives the same value and the same shrink tree.
#[derive(Clone)]
pub struct DrawPoint(TestRng);

impl DrawPoint {
    /// The point the next draw of `runner` starts from.
    pub fn of(runner: &mut TestRunner) -> Self {
        Self(runner.rng().clone())
    }

    /// Draws again from this point.
    pub fn replay(&self, strategy: &BoxedStrategy<Generated>) -> Option<Candidate> {
        let mut runner = TestRunner::new_with_rng(Config::default(), self.0.clone());
        Candidate::draw(strategy, &mut runner)
    }
}

/// One generated value with the tree it shrinks along.
pub struct Candidate {
    tree: Box<dyn ValueTree<Value = Generated>>,
}

impl Candidate {
    /// Draws the next value.
    pub fn draw(strategy: &BoxedStrategy<Generated>, runner: &mut TestRunner) -> Option<Self> {
        strategy.new_tree(runner).ok().map(|tree| Self {
            tree: Box::new(tree),
        })
    }

    /// The current value.
    pub fn current(&self) -> Generated {
        self.tree.current()
    }

    /// Shrinks while `keeps` holds, returning the simplest value found for which it holds
    /// and the number of candidates tried. `keeps` must hold for the current value.
    pub fn shrink(mut self, mut keeps: impl FnMut(&Generated) -> bool) -> (Generated, usize) {
        let mut best = self.tree.current();
        let mut tried = 0;
        if !self.tree.simplify() {
            return (best, tried);
        }
        while tried < SHRINK_BUDGET {
            tried += 1;
            let candidate = self.tree.current();
            if keeps(&candidate) {
                best = candidate;
                if !self.tree.simplify() {
                    break;
                }
            } else if !self.tree.complicate() {
                break;
            }
        }
        (best, tried)
    }
}
