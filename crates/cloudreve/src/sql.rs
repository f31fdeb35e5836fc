//! The little SQL that differs between backends when reading Cloudreve's
//! tables as ent created them: placeholders, and expressions that turn ent's
//! column types (integers, times, JSON) into what pwreset reads.

use chrono::{DateTime, NaiveDateTime, Utc};
use pwreset_infra::db::Backend;

/// Runs a raw query on whichever connection `$conn` holds, binding each
/// `$ty => $value` in order: `run!(conn, sql, load, BigInt => id)`.
macro_rules! run {
    ($conn:expr, $sql:expr, $method:ident $(, $ty:ty => $val:expr)* $(,)?) => {{
        use diesel::RunQueryDsl as _;
        let sql: &str = $sql;
        match $conn {
            pwreset_infra::db::DbConnection::Sqlite(c) => {
                diesel::sql_query(sql)$(.bind::<$ty, _>($val))*.$method(c)
            }
            pwreset_infra::db::DbConnection::Postgres(c) => {
                diesel::sql_query($crate::sql::numbered(sql))$(.bind::<$ty, _>($val))*.$method(c)
            }
            #[cfg(feature = "mysql")]
            pwreset_infra::db::DbConnection::Mysql(c) => {
                diesel::sql_query(sql)$(.bind::<$ty, _>($val))*.$method(c)
            }
        }
    }};
}
pub(crate) use run;

/// `?` placeholders as PostgreSQL's `$1`, `$2`, … (the queries here hold no
/// `?` inside string literals).
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Column expressions per backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect(pub Backend);

impl Dialect {
    /// A table name quoted as ent quotes it (`groups` is reserved on MySQL 8).
    pub fn table(self, name: &str) -> String {
        match self.0 {
            Backend::Postgres | Backend::Sqlite => format!("\"{name}\""),
            #[cfg(feature = "mysql")]
            Backend::Mysql => format!("`{name}`"),
        }
    }

    /// An integer column as a 64-bit integer.
    pub fn int(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{column}::bigint"),
            Backend::Sqlite => column.to_owned(),
            #[cfg(feature = "mysql")]
            Backend::Mysql => format!("CAST({column} AS SIGNED)"),
        }
    }

    /// A text-like column (varchar, enum, JSON) as text.
    pub fn text(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{column}::text"),
            Backend::Sqlite => format!("CAST({column} AS TEXT)"),
            #[cfg(feature = "mysql")]
            Backend::Mysql => format!("CAST({column} AS CHAR)"),
        }
    }

    /// A time column as UTC text that [`parse_time`] reads.
    pub fn time(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            // The Go driver stores text such as `2025-06-01 12:00:00.5+08:00`.
            Backend::Sqlite => format!("CAST({column} AS TEXT)"),
            #[cfg(feature = "mysql")]
            Backend::Mysql => format!("DATE_FORMAT({column}, '%Y-%m-%d %H:%i:%s.%f')"),
        }
    }
}

/// Reads the times Cloudreve's drivers write: Go's `Time.String()` form
/// (`2025-05-01 10:20:30.123456789 +0800 CST m=+0.0345`, what the modernc
/// SQLite driver stores), `2006-01-02 15:04:05.999999999-07:00`, RFC 3339, or
/// a zone-less UTC time.
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    // PostgreSQL prints whole-hour offsets as `+00`.
    let padded;
    let raw = match raw.len().checked_sub(3).map(|i| raw.split_at(i)) {
        Some((head, zone))
            if (zone.starts_with('+') || zone.starts_with('-'))
                && zone[1..].bytes().all(|b| b.is_ascii_digit())
                && head.ends_with(|c: char| c.is_ascii_digit()) =>
        {
            padded = format!("{raw}:00");
            padded.as_str()
        }
        _ => raw,
    };
    let words: Vec<&str> = raw.split_whitespace().collect();
    if words.len() >= 3 && (words[2].starts_with('+') || words[2].starts_with('-')) {
        let go = format!("{} {} {}", words[0], words[1], words[2]);
        if let Ok(t) = DateTime::parse_from_str(&go, "%Y-%m-%d %H:%M:%S%.f %z") {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(raw, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = raw.trim_end_matches('Z').trim_end_matches(" UTC").trim_end_matches("+00:00");
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|t| t.and_utc())
}

/// A time as Go's SQLite driver writes it.
pub fn sqlite_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
    }

    #[test]
    fn every_time_form_a_driver_writes_is_read() {
        let at = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        let half = at + chrono::Duration::milliseconds(500);
        for (raw, expected) in [
            ("2025-06-01 20:00:00+08:00", at),
            ("2025-06-01 12:00:00.5+00:00", half),
            ("2025-06-01 12:00:00.500000000Z", half),
            ("2025-06-01T12:00:00Z", at),
            ("2025-06-01T12:00:00.5+00:00", half),
            ("2025-06-01 12:00:00", at),
            ("2025-06-01 12:00:00.500000", half),
            ("2025-06-01 20:00:00.5 +0800 CST m=+0.034567890", half),
            ("2025-06-01 12:00:00 +0000 UTC", at),
            ("2025-06-01 13:00:00.5+01", half),
        ] {
            assert_eq!(parse_time(raw), Some(expected), "{raw}");
        }
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(&sqlite_time(half)), Some(half));
    }
}
