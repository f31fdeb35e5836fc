//! The cases of the storage contract suite, one public function each. Run
//! them all with [`storage_contract_suite!`](crate::storage_contract_suite)
//! rather than one by one.

use std::sync::Arc;
use std::sync::Barrier;

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use pwreset_domain::ports::{
    AuditQuery, CompletedReset, CreateUserError, GroupRef, NewResetToken, NewUser, ResetCommit,
    SweepReport,
};
use pwreset_domain::{
    AuditKind, AuditRecord, ClientInfo, Email, GroupId, MailKind, OutgoingMail, PasswordHash,
    ResetSecret, SecurityStamp, TokenState, UserId, UserProfile, UserSettings, UserStatus,
};

use super::Subject;
use crate::defaults::default_groups;
use crate::faults::FaultPoint;

// ---------------------------------------------------------------- helpers

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn secret(n: u8) -> ResetSecret {
    nth_secret(usize::from(n))
}

/// A distinct secret for every `n` below 62³.
fn nth_secret(n: usize) -> ResetSecret {
    let digit = |k: usize| char::from(ResetSecret::ALPHABET[(n / 62usize.pow(k as u32)) % 62]);
    ResetSecret::parse(&format!("{}{}{}{}", "S".repeat(29), digit(2), digit(1), digit(0))).unwrap()
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        nickname: "Jane".into(),
        password_hash: PasswordHash::new("$2b$04$old-hash".into()),
        status: UserStatus::Active,
        group_id: GroupId::new(2).unwrap(),
        settings: UserSettings { language: Some("zh-CN".into()), ..UserSettings::default() },
        security_stamp: SecurityStamp::new("old-stamp".into()),
        created_at: now(),
    }
}

fn create(s: &Subject, email: &str) -> UserProfile {
    s.hooks().add_user(&new_user(email))
}

fn audit(kind: AuditKind, user: UserId, at: DateTime<Utc>) -> AuditRecord {
    AuditRecord {
        kind,
        user_id: Some(user),
        client: ClientInfo {
            ip: Some("192.0.2.7".into()),
            user_agent: Some("contract".into()),
            correlation_id: None,
        },
        detail: None,
        at,
    }
}

/// A token for `user` with `secret`, issued now for `ttl`, without mail.
fn new_token(user: UserId, secret: &ResetSecret, ttl: Duration) -> NewResetToken {
    let at = now();
    NewResetToken {
        user_id: user,
        digest: secret.digest(),
        created_at: at,
        expires_at: at + ttl,
        mail: None,
        audit: audit(AuditKind::LinkIssued, user, at),
    }
}

fn issue(s: &Subject, user: UserId, secret: &ResetSecret, ttl: Duration) -> i64 {
    s.issue_token(&new_token(user, secret, ttl)).unwrap();
    s.find_token(&secret.digest()).unwrap().expect("issued token is found").id
}

fn mail(kind: MailKind, to: &str, n: usize) -> OutgoingMail {
    OutgoingMail {
        kind,
        to: to.to_owned(),
        subject: format!("subject {n}"),
        text: format!("text {n} with secret"),
        html: format!("<p>html {n}</p>"),
    }
}

fn reset(token_id: i64, user: UserId, hash: &str, at: DateTime<Utc>) -> CompletedReset {
    CompletedReset {
        token_id,
        user_id: user,
        password_hash: PasswordHash::new(hash.into()),
        security_stamp: SecurityStamp::new(format!("stamp-for-{hash}")),
        at,
        notice: Some(mail(MailKind::PasswordChanged, "notice@example.com", 0)),
        audit: audit(AuditKind::ResetSucceeded, user, at),
    }
}

/// The adapter either keeps the stamp it is given, or (when its accounts
/// have no stamp column) derives a new one from the new credentials.
fn assert_stamp_replaced(s: &Subject, before: &str, after: &str, hash: &str) {
    if s.hooks().stores_stamps() {
        assert_eq!(after, format!("stamp-for-{hash}"));
    } else {
        assert_ne!(after, before, "the stamp changes with the password");
    }
}

/// Equal to the precision the adapter stores account times with.
fn assert_same_instant(s: &Subject, stored: DateTime<Utc>, expected: DateTime<Utc>) {
    let precision = s.hooks().time_precision();
    assert!((stored - expected).abs() < precision, "{stored} is not {expected} (±{precision})");
}

fn token_state(s: &Subject, secret: &ResetSecret) -> TokenState {
    s.find_token(&secret.digest()).unwrap().unwrap().state(now())
}

fn password_of(s: &Subject, user: UserId) -> (String, String) {
    let p = s.find_profile(user).unwrap().unwrap();
    (p.user.password_hash.expose().to_owned(), p.user.security_stamp.as_str().to_owned())
}

// ---------------------------------------------------------------- the suite

/// The case: Fresh store has cloudreves default groups.
pub fn fresh_store_has_cloudreves_default_groups(s: &Subject) {
    for expected in default_groups() {
        let by_id = s.find_group(&GroupRef::Id(expected.id)).unwrap();
        assert_eq!(by_id.as_ref(), Some(&expected));
        let by_name = s.find_group(&GroupRef::Name(expected.name.clone())).unwrap();
        assert_eq!(by_name, Some(expected));
    }
    assert_eq!(s.find_group(&GroupRef::Id(GroupId::new(99).unwrap())).unwrap(), None);
    assert_eq!(s.find_group(&GroupRef::Name("admin".into())).unwrap(), None, "names are exact");
}

/// The case: Users round trip and are found case insensitively.
pub fn users_round_trip_and_are_found_case_insensitively(s: &Subject) {
    let created = create(s, "Jane.Doe@Example.com");
    assert_eq!(created.user.email, "Jane.Doe@Example.com");
    assert_eq!(created.user.nickname, "Jane");
    assert_eq!(created.user.status, UserStatus::Active);
    assert_eq!(created.user.settings.language.as_deref(), Some("zh-CN"));
    assert_eq!(created.group.name, "User");
    assert_eq!(created.user.created_at, created.user.updated_at);

    let found = s.find_user_by_email(&Email::parse("jane.doe@EXAMPLE.COM").unwrap()).unwrap();
    assert_eq!(found.as_ref(), Some(&created.user));
    assert_eq!(s.find_profile(created.user.id).unwrap(), Some(created.clone()));
    assert_eq!(s.find_user_by_email(&Email::parse("jane@example.com").unwrap()).unwrap(), None);
    assert_eq!(s.find_profile(UserId::new(created.user.id.get() + 100).unwrap()).unwrap(), None);

    let second = create(s, "second@example.com");
    assert_ne!(second.user.id, created.user.id);

    // Case is folded for ASCII letters only, the way rate limits count
    // addresses (`Email::normalized`), whatever the backend's own folding.
    let accented = create(s, "Ümit@Example.com");
    let find = |e: &str| s.find_user_by_email(&Email::parse(e).unwrap()).unwrap().map(|u| u.id);
    assert_eq!(find("Ümit@EXAMPLE.COM"), Some(accented.user.id));
    assert_eq!(find("ümit@example.com"), None, "Ü and ü are different letters to the limits");
    assert_eq!(find("umit@example.com"), None, "accents count");
}

/// The case: Duplicate addresses and unknown groups are refused.
pub fn duplicate_addresses_and_unknown_groups_are_refused(s: &Subject) {
    if !s.hooks().creates_users() {
        let err = s.create_user(&new_user("new@example.com")).unwrap_err();
        assert!(matches!(err, CreateUserError::Unsupported), "{err:?}");
        let found = s.find_user_by_email(&Email::parse("new@example.com").unwrap()).unwrap();
        assert_eq!(found, None, "a refused creation stores nothing");
        return;
    }
    create(s, "taken@example.com");
    let err = s.create_user(&new_user("TAKEN@example.com")).unwrap_err();
    assert!(matches!(err, CreateUserError::EmailTaken), "{err:?}");

    let mut orphan = new_user("orphan@example.com");
    orphan.group_id = GroupId::new(42).unwrap();
    let err = s.create_user(&orphan).unwrap_err();
    assert!(matches!(err, CreateUserError::UnknownGroup(g) if g.get() == 42), "{err:?}");
    assert_eq!(s.find_user_by_email(&Email::parse("orphan@example.com").unwrap()).unwrap(), None);
}

/// The case: Tokens are found by digest only.
pub fn tokens_are_found_by_digest_only(s: &Subject) {
    let user = create(s, "t@example.com").user.id;
    let before = now();
    issue(s, user, &secret(1), Duration::hours(1));
    let token = s.find_token(&secret(1).digest()).unwrap().unwrap();
    assert_eq!(token.user_id, user);
    assert!(token.digest == secret(1).digest());
    assert!(token.created_at >= before && token.created_at <= now());
    assert_eq!(token.expires_at, token.created_at + Duration::hours(1), "expiry is fixed at issue");
    assert_eq!(token.state(now()), TokenState::Live);
    assert!(s.find_token(&secret(2).digest()).unwrap().is_none());
    assert_eq!(s.hooks().audit_kinds(), ["link_issued"]);
}

/// The case: Issuing revokes the users older tokens.
pub fn issuing_revokes_the_users_older_tokens(s: &Subject) {
    let user = create(s, "a@example.com").user.id;
    let other = create(s, "b@example.com").user.id;
    issue(s, user, &secret(1), Duration::hours(1));
    issue(s, other, &secret(9), Duration::hours(1));
    issue(s, user, &secret(2), Duration::hours(1));
    assert_eq!(token_state(s, &secret(1)), TokenState::Revoked);
    assert_eq!(token_state(s, &secret(2)), TokenState::Live);
    assert_eq!(token_state(s, &secret(9)), TokenState::Live, "other users are untouched");
}

/// The case: A secret is consumed once.
pub fn a_secret_is_consumed_once(s: &Subject) {
    let user = create(s, "once@example.com").user.id;
    let token = issue(s, user, &secret(1), Duration::hours(1));
    let before = password_of(s, user);
    let at = now();
    match s.complete_reset(&reset(token, user, "$2b$04$first", at)).unwrap() {
        ResetCommit::Applied(p) => {
            assert_eq!(p.user.password_hash.expose(), "$2b$04$first");
            assert_stamp_replaced(s, &before.1, p.user.security_stamp.as_str(), "$2b$04$first");
            assert_same_instant(s, p.user.updated_at, at);
            assert_eq!(p.group.name, "User");
        }
        other => panic!("first reset: {other:?}"),
    }
    let again = s.complete_reset(&reset(token, user, "$2b$04$second", now())).unwrap();
    assert_eq!(again, ResetCommit::TokenNotLive);
    assert_eq!(password_of(s, user).0, "$2b$04$first");
    assert_eq!(token_state(s, &secret(1)), TokenState::Used);
    assert_eq!(s.hooks().audit_kinds(), ["link_issued", "reset_succeeded"]);
    let queued = s.claim_due(now(), now() + Duration::minutes(5), 10).unwrap();
    assert_eq!(queued.len(), 1, "the notice of the one reset that happened");
    assert_eq!(queued[0].mail, mail(MailKind::PasswordChanged, "notice@example.com", 0));
}

/// The case: A reset revokes the users other tokens.
pub fn a_reset_revokes_the_users_other_tokens(s: &Subject) {
    let user = create(s, "r@example.com").user.id;
    let other_user = create(s, "o@example.com").user.id;
    let first = issue(s, user, &secret(1), Duration::hours(1));
    // Issuing revokes older tokens, so a second outstanding token can only
    // come from outside the port (a race, an older version): plant one.
    s.hooks().plant_token(user, &secret(2), now() + Duration::hours(1));
    issue(s, other_user, &secret(5), Duration::hours(1));
    assert_eq!(token_state(s, &secret(2)), TokenState::Live);
    assert!(matches!(
        s.complete_reset(&reset(first, user, "$2b$04$x", now())).unwrap(),
        ResetCommit::Applied(_)
    ));
    assert_eq!(token_state(s, &secret(2)), TokenState::Revoked, "the user's other token");
    assert_eq!(token_state(s, &secret(5)), TokenState::Live, "other users keep their tokens");
}

/// The case: Expired used and other users tokens are refused.
pub fn expired_used_and_other_users_tokens_are_refused(s: &Subject) {
    let user = create(s, "e@example.com").user.id;
    let other = create(s, "f@example.com").user.id;
    let token = issue(s, user, &secret(1), Duration::minutes(10));
    let original = password_of(s, user);

    let expires = s.find_token(&secret(1).digest()).unwrap().unwrap().expires_at;
    for at in [expires, expires + Duration::seconds(1)] {
        let outcome = s.complete_reset(&reset(token, user, "$2b$04$late", at)).unwrap();
        assert_eq!(outcome, ResetCommit::TokenNotLive, "at {at}");
    }
    let outcome = s.complete_reset(&reset(token, other, "$2b$04$other", now())).unwrap();
    assert_eq!(outcome, ResetCommit::TokenNotLive, "another user's token");
    let outcome = s.complete_reset(&reset(token + 1000, user, "$2b$04$none", now())).unwrap();
    assert_eq!(outcome, ResetCommit::TokenNotLive, "a token that does not exist");

    assert_eq!(password_of(s, user), original);
    assert_eq!(password_of(s, other).0, "$2b$04$old-hash");
    assert_eq!(token_state(s, &secret(1)), TokenState::Live, "refusals do not consume");

    issue(s, user, &secret(2), Duration::hours(1));
    let revoked = s.complete_reset(&reset(token, user, "$2b$04$revoked", now())).unwrap();
    assert_eq!(revoked, ResetCommit::TokenNotLive, "a revoked token");
}

/// The case: Inactive users are refused and keep their token.
pub fn inactive_users_are_refused_and_keep_their_token(s: &Subject) {
    for (i, status) in [UserStatus::Inactive, UserStatus::ManualBanned, UserStatus::SysBanned]
        .into_iter()
        .enumerate()
    {
        let user = create(s, &format!("banned{i}@example.com")).user.id;
        let token = issue(s, user, &secret(i as u8), Duration::hours(1));
        s.hooks().set_status(user, status);
        let before = s.find_profile(user).unwrap().unwrap();
        assert_eq!(before.user.status, status);
        let outcome = s.complete_reset(&reset(token, user, "$2b$04$new", now())).unwrap();
        assert_eq!(outcome, ResetCommit::UserNotActive, "{status:?}");
        assert_eq!(s.find_profile(user).unwrap().unwrap(), before, "nothing changed");
        assert_eq!(password_of(s, user).0, "$2b$04$old-hash");
        assert_eq!(token_state(s, &secret(i as u8)), TokenState::Live, "{status:?}");
    }
    assert!(!s.hooks().audit_kinds().contains(&"reset_succeeded".to_owned()));
}

/// The case: Concurrent consumers of one secret have one winner.
pub fn concurrent_consumers_of_one_secret_have_one_winner(s: &Subject) {
    const THREADS: usize = 16;
    let user = create(s, "race@example.com").user.id;
    let token = issue(s, user, &secret(1), Duration::hours(1));
    let barrier = Arc::new(Barrier::new(THREADS));
    let outcomes: Vec<(usize, ResetCommit)> = (0..THREADS)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let outcome =
                    s.complete_reset(&reset(token, user, &format!("$2b$04$racer{i}"), now()));
                (i, outcome.expect("no storage error under contention"))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners: Vec<usize> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, ResetCommit::Applied(_)))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, ResetCommit::Applied(_) | ResetCommit::TokenNotLive))
    );
    assert_eq!(
        password_of(s, user).0,
        format!("$2b$04$racer{}", winners[0]),
        "the winner's hash is stored"
    );
    assert_eq!(s.hooks().audit_kinds().iter().filter(|k| *k == "reset_succeeded").count(), 1);
}

/// Many link requests for one user at once: afterwards exactly one link works
/// (the newest one a request committed), never two.
pub fn concurrent_issuers_leave_one_live_link(s: &Subject) {
    const THREADS: usize = 12;
    const ROUNDS: usize = 4;
    let user = create(s, "issuers@example.com").user.id;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(THREADS));
        let secrets: Vec<ResetSecret> =
            (0..THREADS).map(|i| nth_secret(round * THREADS + i + 1)).collect();
        let threads: Vec<_> = secrets
            .iter()
            .cloned()
            .map(|secret| {
                let (s, barrier) = (s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    s.issue_token(&new_token(user, &secret, Duration::hours(1)))
                        .expect("no storage error under contention");
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let live = secrets.iter().filter(|x| token_state(s, x) == TokenState::Live).count();
        assert_eq!(live, 1, "round {round}: {live} live links for one user");
    }
}

/// Link requests and resets for many different users at once never fail each
/// other (no lock of one user's work may be taken by another's).
pub fn work_on_different_users_does_not_interfere(s: &Subject) {
    const USERS: usize = 12;
    const ROUNDS: usize = 6;
    let users: Vec<UserId> =
        (0..USERS).map(|i| create(s, &format!("neighbour{i}@example.com")).user.id).collect();
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(USERS));
        let threads: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, &user)| {
                let (s, barrier) = (s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let secret = nth_secret(1000 + round * USERS + i);
                    barrier.wait();
                    s.issue_token(&new_token(user, &secret, Duration::hours(1)))
                        .expect("issuing for one user is not disturbed by others");
                    let token = s.find_token(&secret.digest()).unwrap().unwrap().id;
                    if i % 2 == 0 {
                        let outcome = s
                            .complete_reset(&reset(token, user, "$2b$04$neighbour", now()))
                            .expect("resetting one user is not disturbed by others");
                        assert!(matches!(outcome, ResetCommit::Applied(_)));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
    }
}

/// A reset and link requests for the same user at the same time: both kinds
/// complete without a storage error (no deadlock), and the user ends with at
/// most one live link.
pub fn concurrent_resets_and_link_requests_do_not_deadlock(s: &Subject) {
    const ROUNDS: usize = 24;
    let user = create(s, "mixed@example.com").user.id;
    for round in 0..ROUNDS {
        let base = round * 3;
        let token = issue(s, user, &nth_secret(base + 1), Duration::hours(1));
        let barrier = Arc::new(Barrier::new(3));
        let resetter = {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.complete_reset(&reset(token, user, "$2b$04$mixed", now())).map(drop)
            })
        };
        let issuers: Vec<_> = [base + 2, base + 3]
            .into_iter()
            .map(|n| {
                let (s, barrier) = (s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    s.issue_token(&new_token(user, &nth_secret(n), Duration::hours(1)))
                })
            })
            .collect();
        resetter.join().unwrap().expect("the reset completes");
        for issuer in issuers {
            issuer.join().unwrap().expect("the link request completes");
        }
        let live =
            (1..=3).filter(|k| token_state(s, &nth_secret(base + k)) == TokenState::Live).count();
        assert!(live <= 1, "round {round}: {live} live links");
    }
}

/// The case: A failure inside the reset changes nothing.
pub fn a_failure_inside_the_reset_changes_nothing(s: &Subject) {
    let user = create(s, "atomic@example.com").user.id;
    let token = issue(s, user, &secret(1), Duration::hours(1));
    let before = s.find_profile(user).unwrap().unwrap();
    let audit_before = s.hooks().audit_kinds();

    assert!(s.hooks().arm_fault(FaultPoint::AfterTokenUpdate), "the adapter arms the fault");
    let err = s.complete_reset(&reset(token, user, "$2b$04$doomed", now())).unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");

    assert_eq!(
        s.find_profile(user).unwrap().unwrap(),
        before,
        "password, stamp and time unchanged"
    );
    assert_eq!(token_state(s, &secret(1)), TokenState::Live, "the secret is still usable");
    assert_eq!(s.hooks().audit_kinds(), audit_before, "no audit row for what did not happen");
    assert!(s.hooks().outbox_rows().is_empty(), "no notice for what did not happen");

    let retry = s.complete_reset(&reset(token, user, "$2b$04$retry", now())).unwrap();
    assert!(matches!(retry, ResetCommit::Applied(_)), "{retry:?}");
}

/// The case: Times survive storage to the microsecond.
pub fn times_survive_storage_to_the_microsecond(s: &Subject) {
    let user = create(s, "time@example.com").user.id;
    let at = Utc.with_ymd_and_hms(2031, 2, 3, 4, 5, 6).unwrap() + Duration::microseconds(789_012);
    s.issue_token(&NewResetToken {
        user_id: user,
        digest: secret(3).digest(),
        created_at: at,
        expires_at: at + Duration::hours(1),
        mail: None,
        audit: audit(AuditKind::LinkIssued, user, at),
    })
    .unwrap();
    let token = s.find_token(&secret(3).digest()).unwrap().unwrap();
    assert_eq!((token.created_at, token.expires_at), (at, at + Duration::hours(1)));
}

/// The case: Issuing queues the email with the token.
pub fn issuing_queues_the_email_with_the_token(s: &Subject) {
    let user = create(s, "mail@example.com").user.id;
    let at = now();
    let link = mail(MailKind::ResetLink, "mail@example.com", 1);
    s.issue_token(&NewResetToken {
        user_id: user,
        digest: secret(1).digest(),
        created_at: at,
        expires_at: at + Duration::hours(1),
        mail: Some(link.clone()),
        audit: audit(AuditKind::LinkRequested, user, at),
    })
    .unwrap();
    assert_eq!(s.pending().unwrap(), 1);
    assert!(
        s.claim_due(at - Duration::seconds(1), at + Duration::minutes(5), 10).unwrap().is_empty(),
        "not due yet"
    );
    let claimed = s.claim_due(at, at + Duration::minutes(5), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].mail.clone(), claimed[0].attempts), (link, 1));
    assert_eq!(s.hooks().audit_kinds(), ["link_requested"]);
}

/// Queues `n` emails (through token issues, the only way in) and returns the
/// time they became due.
fn queue(s: &Subject, n: usize) -> DateTime<Utc> {
    let at = now();
    for i in 0..n {
        let user = create(s, &format!("q{i}@example.com")).user.id;
        s.issue_token(&NewResetToken {
            user_id: user,
            digest: secret(i as u8).digest(),
            created_at: at,
            expires_at: at + Duration::hours(1),
            mail: Some(mail(MailKind::ResetLink, &format!("q{i}@example.com"), i)),
            audit: audit(AuditKind::LinkRequested, user, at),
        })
        .unwrap();
    }
    at
}

/// The case: Claims are leased in order and counted.
pub fn claims_are_leased_in_order_and_counted(s: &Subject) {
    let at = queue(s, 3);
    let lease = at + Duration::minutes(10);
    let first = s.claim_due(at, lease, 2).unwrap();
    assert_eq!(
        first.iter().map(|q| q.mail.subject.as_str()).collect::<Vec<_>>(),
        ["subject 0", "subject 1"]
    );
    let second = s.claim_due(at, lease, 10).unwrap();
    assert_eq!(second.len(), 1, "leased rows are not claimed twice");
    assert!(s.claim_due(lease - Duration::seconds(1), lease, 10).unwrap().is_empty());
    // A claimer that died: its lease runs out and the rows come back.
    let again = s.claim_due(lease, lease + Duration::minutes(10), 10).unwrap();
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|q| q.attempts == 2), "{again:?}");
    assert_eq!(s.pending().unwrap(), 3);
}

/// The case: A claimer renews the leases it still holds, and only those.
pub fn a_claimer_renews_only_the_leases_it_holds(s: &Subject) {
    let at = queue(s, 3);
    let lease = at + Duration::seconds(15);
    let claimed: Vec<i64> = s.claim_due(at, lease, 10).unwrap().iter().map(|q| q.id).collect();
    assert_eq!(claimed.len(), 3);
    s.mark_sent(claimed[0], at).unwrap();
    // Renewed: the two still pending; the sent one is finished.
    let renewed_until = lease + Duration::seconds(5);
    assert_eq!(s.renew(&claimed, lease, renewed_until).unwrap(), &claimed[1..]);
    assert!(
        s.claim_due(lease, lease + Duration::seconds(15), 10).unwrap().is_empty(),
        "a renewed lease keeps other claimers out past its first end"
    );
    // A renewal against the old lease is a stale claimer's: nothing is renewed.
    assert!(s.renew(&claimed, lease, renewed_until + Duration::seconds(5)).unwrap().is_empty());
    // The lease runs out without renewal; another claimer takes the rows,
    // and the first claimer's renewal no longer finds them.
    let taken = s.claim_due(renewed_until, renewed_until + Duration::seconds(15), 10).unwrap();
    assert_eq!(taken.iter().map(|q| q.id).collect::<Vec<_>>(), &claimed[1..]);
    assert!(
        s.renew(&claimed, renewed_until, renewed_until + Duration::seconds(20)).unwrap().is_empty()
    );
    assert!(s.renew(&[], renewed_until, renewed_until).unwrap().is_empty());
}

/// The case: Sent and given up messages are scrubbed.
pub fn sent_and_given_up_messages_are_scrubbed(s: &Subject) {
    let at = queue(s, 3);
    let claimed = s.claim_due(at, at + Duration::minutes(10), 10).unwrap();
    s.mark_sent(claimed[0].id, at).unwrap();
    s.mark_failed(claimed[1].id, "550 mailbox unavailable", None).unwrap();
    let retry_at = at + Duration::minutes(2);
    s.mark_failed(claimed[2].id, "421 try again later", Some(retry_at)).unwrap();

    let rows = s.hooks().outbox_rows();
    assert_eq!(rows[0], ("sent".to_owned(), None, None), "delivered: body scrubbed");
    assert_eq!(rows[1], ("failed".to_owned(), None, None), "given up: body scrubbed");
    assert_eq!(rows[2].0, "pending");
    assert!(rows[2].1.as_deref().is_some_and(|t| t.contains("secret")), "a retry keeps its body");
    assert_eq!(s.pending().unwrap(), 1);

    assert!(
        s.claim_due(retry_at - Duration::seconds(1), retry_at, 10).unwrap().is_empty(),
        "waits for retry_at"
    );
    let retried = s.claim_due(retry_at, retry_at + Duration::minutes(10), 10).unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (claimed[2].id, 2));
}

/// The case: Audit events are recorded.
pub fn audit_events_are_recorded(s: &Subject) {
    s.record(&AuditRecord {
        kind: AuditKind::LinkRequested,
        user_id: None,
        client: ClientInfo::default(),
        detail: Some("outcome=unknown_address".into()),
        at: now(),
    })
    .unwrap();
    assert_eq!(s.hooks().audit_kinds(), ["link_requested"]);
}

/// The case: Audit events are listed newest first by user and time.
pub fn audit_events_are_listed_newest_first_by_user_and_time(s: &Subject) {
    let (a, b) = (create(s, "a@example.com").user.id, create(s, "b@example.com").user.id);
    let base = Utc.with_ymd_and_hms(2030, 5, 1, 12, 0, 0).unwrap();
    let at = |h: i64| base + Duration::hours(h);
    let records = [
        audit(AuditKind::LinkRequested, a, at(0)),
        audit(AuditKind::ResetRefused, b, at(1)),
        audit(AuditKind::ResetSucceeded, a, at(2)),
        AuditRecord { user_id: None, ..audit(AuditKind::RateLimited, a, at(3)) },
    ];
    s.record_all(&records).unwrap();
    let all = s.list(&AuditQuery { user: None, since: at(0), limit: 10 }).unwrap();
    assert_eq!(
        all.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [
            AuditKind::RateLimited,
            AuditKind::ResetSucceeded,
            AuditKind::ResetRefused,
            AuditKind::LinkRequested
        ]
    );
    assert_eq!(all[3], records[0], "everything round-trips");
    let mine = s.list(&AuditQuery { user: Some(a), since: at(0), limit: 10 }).unwrap();
    assert_eq!(mine.iter().map(|r| r.at).collect::<Vec<_>>(), [at(2), at(0)]);
    let recent = s.list(&AuditQuery { user: None, since: at(2), limit: 10 }).unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(s.list(&AuditQuery { user: None, since: at(0), limit: 1 }).unwrap().len(), 1);
}

/// The case: Sweeping deletes only what is finished and old.
pub fn sweeping_deletes_only_what_is_finished_and_old(s: &Subject) {
    let now = now();
    let old = now - Duration::days(10);
    let issue_at = |email: &str, n: u8, at: DateTime<Utc>| {
        let user = create(s, email).user.id;
        s.issue_token(&NewResetToken {
            user_id: user,
            digest: secret(n).digest(),
            created_at: at,
            expires_at: at + Duration::hours(1),
            mail: Some(mail(MailKind::ResetLink, email, n.into())),
            audit: audit(AuditKind::LinkRequested, user, at),
        })
        .unwrap();
        (user, s.find_token(&secret(n).digest()).unwrap().unwrap().id)
    };
    // Used long ago (its notice queued then too), expired long ago, and
    // revoked long ago by a newer token that is still live.
    let (used_user, used) = issue_at("used@example.com", 1, old);
    assert!(matches!(
        s.complete_reset(&reset(used, used_user, "$2b$04$x", old + Duration::minutes(1))).unwrap(),
        ResetCommit::Applied(_)
    ));
    issue_at("expired@example.com", 2, old);
    let (revoked_user, _) = issue_at("revoked@example.com", 3, old);
    s.hooks().plant_token(revoked_user, &secret(4), now + Duration::hours(1));
    s.issue_token(&NewResetToken {
        user_id: revoked_user,
        digest: secret(5).digest(),
        created_at: old + Duration::minutes(5),
        expires_at: now + Duration::hours(1),
        mail: None,
        audit: audit(AuditKind::LinkIssued, revoked_user, old),
    })
    .unwrap();
    // Finished recently: kept.
    let (recent_user, recent) = issue_at("recent@example.com", 6, now - Duration::hours(2));
    s.complete_reset(&reset(
        recent,
        recent_user,
        "$2b$04$y",
        now - Duration::hours(1) - Duration::minutes(30),
    ))
    .unwrap();
    // The outbox: deliver the first, give the second up, leave the rest.
    let claimed = s.claim_due(now, now + Duration::minutes(10), 2).unwrap();
    s.mark_sent(claimed[0].id, old).unwrap();
    s.mark_failed(claimed[1].id, "550", None).unwrap();
    let rows_before = s.hooks().outbox_rows().len();

    let report = s.sweep(now - Duration::days(1), 1).unwrap();
    assert_eq!(
        report,
        SweepReport { tokens: 4, mails: 2 },
        "used, expired, revoked ×2 (one planted); sent + failed"
    );
    for gone in [1, 2, 3, 4] {
        assert!(s.find_token(&secret(gone).digest()).unwrap().is_none(), "token {gone}");
    }
    for kept in [5, 6] {
        assert!(s.find_token(&secret(kept).digest()).unwrap().is_some(), "token {kept}");
    }
    assert_eq!(s.hooks().outbox_rows().len(), rows_before - 2);
    assert!(
        s.hooks().outbox_rows().iter().all(|(status, ..)| status == "pending" || status == "sent")
    );
    assert_eq!(
        s.sweep(now - Duration::days(1), 100).unwrap(),
        SweepReport::default(),
        "idempotent"
    );
}

/// The case: Concurrent claimers never share a message.
pub fn concurrent_claimers_never_share_a_message(s: &Subject) {
    const MESSAGES: usize = 24;
    const CLAIMERS: usize = 8;
    let at = queue(s, MESSAGES);
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let claimed: Vec<i64> = (0..CLAIMERS)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = Vec::new();
                loop {
                    let batch = s.claim_due(at, at + Duration::minutes(10), 2).expect("claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.iter().map(|q| q.id));
                }
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut unique = claimed.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(claimed.len(), MESSAGES, "every message claimed exactly once: {claimed:?}");
    assert_eq!(unique.len(), MESSAGES);
}
