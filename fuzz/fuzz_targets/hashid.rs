//! Public ids (Cloudreve's hashids): arbitrary salts and inputs. Decoding
//! never panics, accepts only canonical encodings, and agrees with the
//! `harsh` crate (the reference the codec was written against).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwreset_domain::UserId;
use pwreset_domain::ports::PublicIdCodec;
use pwreset_infra::HashidCodec;
use pwreset_infra::hashid::Hashids;

fuzz_target!(|data: &[u8]| {
    // Layout: salt length, salt (mapped to printable ASCII), 8 bytes of a
    // number, then the text to decode.
    let Some((&len, rest)) = data.split_first() else { return };
    let len = usize::from(len % 41).min(rest.len());
    let (salt, rest) = rest.split_at(len);
    let salt: String = salt.iter().map(|b| char::from(b' ' + b % 95)).collect();
    let hashids = Hashids::new(&salt).expect("printable ASCII salts are accepted");
    let reference = harsh::Harsh::builder().salt(salt.as_str()).build().unwrap();

    let (number, text) = if rest.len() >= 8 { rest.split_at(8) } else { (&[][..], rest) };
    if let Ok(bytes) = <[u8; 8]>::try_from(number) {
        let n = u64::from_le_bytes(bytes);
        let numbers = [n, n % 3];
        let encoded = hashids.encode(&numbers);
        assert_eq!(encoded, reference.encode(&numbers), "salt {salt:?}");
        assert_eq!(hashids.decode(&encoded).as_deref(), Some(&numbers[..]));
    }

    let text = String::from_utf8_lossy(text);
    if let Some(numbers) = hashids.decode(&text) {
        assert!(!numbers.is_empty());
        assert_eq!(reference.encode(&numbers), text, "only canonical ids decode");
    }
    let codec = HashidCodec::new(&salt).unwrap();
    if let Some(user) = codec.decode_user(&text) {
        assert!(user.get() > 0);
        assert_eq!(codec.encode_user(user), text);
    }
    if let Some(n) = number.first() {
        let id = UserId::new(i64::from(*n) + 1).unwrap();
        assert_eq!(codec.decode_user(&codec.encode_user(id)), Some(id));
    }
});
