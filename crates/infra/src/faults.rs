//! Fault injection for the storage contract suite: proves that a failure in
//! the middle of an atomic unit leaves no trace. Compiled to nothing without
//! the `test-support` feature.

use pwreset_domain::ports::StoreError;

/// Places inside a storage operation where a test can make it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Inside `complete_reset`, once the token has been marked used.
    AfterTokenUpdate,
}

/// Armed fault points. Empty and free without the `test-support` feature.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    #[cfg(any(test, feature = "test-support"))]
    armed: std::sync::Mutex<Vec<FaultPoint>>,
}

impl Faults {
    /// Fails the next operation that reaches `point`.
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn arm(&self, point: FaultPoint) {
        self.armed.lock().unwrap().push(point);
    }

    /// Returns the injected error if `point` is armed (and disarms it).
    #[cfg_attr(
        not(any(test, feature = "test-support")),
        allow(clippy::unused_self, unused_variables)
    )]
    #[inline]
    pub(crate) fn check(&self, point: FaultPoint) -> Result<(), StoreError> {
        #[cfg(any(test, feature = "test-support"))]
        {
            let mut armed = self.armed.lock().unwrap();
            if let Some(i) = armed.iter().position(|p| *p == point) {
                armed.remove(i);
                return Err(StoreError::msg(format!("injected fault at {point:?}")));
            }
        }
        Ok(())
    }
}
