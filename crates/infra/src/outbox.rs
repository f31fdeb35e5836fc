//! Where an outbox message stands: one enum for every store, spelt in
//! storage as `pending`, `sent` and `failed`.

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered.
    Sent,
    /// Given up.
    Failed,
}

impl OutboxStatus {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Sent, Self::Failed];

    /// How the `status` column spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// The state a `status` column holds, if it is one.
    pub fn from_column(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OutboxStatus;

    #[test]
    fn spellings_round_trip() {
        for status in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::from_column(status.as_str()), Some(status));
        }
        assert_eq!(OutboxStatus::from_column("Pending"), None);
    }
}
