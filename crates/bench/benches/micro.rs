//! Micro-benchmarks of the per-request work that is not I/O: decoding a
//! public id, digesting a secret, serialising envelopes.

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use pwreset_domain::ports::PublicIdCodec;
use pwreset_domain::{
    Group, GroupId, PasswordHash, ResetSecret, SecurityStamp, User, UserId, UserProfile,
    UserSettings, UserStatus,
};
use pwreset_http::{Envelope, UserResponse};
use pwreset_infra::HashidCodec;

fn hashid(c: &mut Criterion) {
    let codec =
        HashidCodec::new("a 64-character site salt, as pwreset generates one on first start")
            .unwrap();
    let public = codec.encode_user(UserId::new(123_456).unwrap());
    c.bench_function("hashid decode (valid user id)", |b| {
        b.iter(|| codec.decode_user(black_box(&public)))
    });
    c.bench_function("hashid decode (garbage, 32 chars)", |b| {
        b.iter(|| codec.decode_user(black_box("zZ9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF")))
    });
    c.bench_function("hashid encode", |b| {
        b.iter(|| codec.encode_user(black_box(UserId::new(123_456).unwrap())))
    });
}

fn digest(c: &mut Criterion) {
    let secret = ResetSecret::parse("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK").unwrap();
    c.bench_function("secret digest (SHA-256)", |b| b.iter(|| black_box(&secret).digest()));
    let (a, b2) =
        (secret.digest(), ResetSecret::parse("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhL").unwrap().digest());
    c.bench_function("digest constant-time compare", |b| {
        b.iter(|| black_box(&a) == black_box(&b2))
    });
}

fn envelopes(c: &mut Criterion) {
    let codec = HashidCodec::new("salt").unwrap();
    let now = Utc::now();
    let profile = UserProfile {
        user: User {
            id: UserId::new(42).unwrap(),
            email: "jane@example.com".into(),
            nickname: "Jane Doe".into(),
            password_hash: PasswordHash::new(
                "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234".into(),
            ),
            status: UserStatus::Active,
            avatar: None,
            credit: None,
            settings: UserSettings::default(),
            group_id: GroupId::new(2).unwrap(),
            created_at: now,
            updated_at: now,
            security_stamp: SecurityStamp::new("stamp".into()),
        },
        group: Group {
            id: GroupId::new(2).unwrap(),
            name: "User".into(),
            permissions: vec![0x84, 0x08],
            direct_link_batch_size: 10,
            trash_retention: 604_800,
        },
    };
    c.bench_function("success envelope with the User object", |b| {
        b.iter(|| {
            serde_json::to_vec(&Envelope::success(UserResponse::new(
                black_box(&profile),
                &codec,
                "en-US",
            )))
        })
    });
    let failure = Envelope::<()> {
        code: 40030,
        data: None,
        msg: "Link is expired".into(),
        error: None,
        correlation_id: Some(uuid_like()),
    };
    c.bench_function("failure envelope", |b| b.iter(|| serde_json::to_vec(black_box(&failure))));
}

fn uuid_like() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x4c31e812_08b3_47ee_8447_13b11e0df93d)
}

criterion_group!(benches, hashid, digest, envelopes);
criterion_main!(benches);
