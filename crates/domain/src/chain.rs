//! One way to print an error with its causes, for logs and for the command
//! line's last word.

/// `outer: inner: innermost` — an error and every source below it.
///
/// Some libraries (redis, for one) end their own message with their cause
/// and also return it as the source; such a cause is said once.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut parent = text.clone();
    let mut source = error.source();
    while let Some(s) = source {
        let said = s.to_string();
        if !parent.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        parent = said;
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("completing a reset")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("unreachable: {0}")]
    struct SaysItsCause(#[source] std::io::Error);

    #[test]
    fn the_chain_is_walked_to_the_root() {
        let e = Outer(std::io::Error::other("connection reset by peer"));
        assert_eq!(error_chain(&e), "completing a reset: connection reset by peer");
    }

    #[test]
    fn a_cause_its_parent_already_says_is_said_once() {
        let e = Outer(std::io::Error::other(SaysItsCause(std::io::Error::other("refused"))));
        assert_eq!(error_chain(&e), "completing a reset: unreachable: refused");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("timed out waiting for the pool (last: {0})")]
    struct MentionsItsCause(#[source] std::io::Error);

    #[test]
    fn a_cause_only_mentioned_midway_is_still_said() {
        let e = MentionsItsCause(std::io::Error::other("timed out"));
        assert_eq!(error_chain(&e), "timed out waiting for the pool (last: timed out): timed out");
    }
}
