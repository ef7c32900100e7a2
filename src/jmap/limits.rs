//! The limits the server advertises in the session's core capability, and enforces: the
//! transport checks the request-level ones (sizes, concurrency, calls per request), the method
//! toolkit the per-call ones (objects per /get and /set, filter and sort size, query windows).
//! Plain constants, so every layer of `jmap` may read them.

pub const MAX_SIZE_UPLOAD: usize = 50_000_000;
pub const MAX_CONCURRENT_UPLOAD: usize = 4;
pub const MAX_SIZE_REQUEST: usize = 10_000_000;
pub const MAX_CONCURRENT_REQUESTS: usize = 4;
pub const MAX_CALLS_IN_REQUEST: usize = 16;
pub const MAX_OBJECTS_IN_GET: usize = 500;
pub const MAX_OBJECTS_IN_SET: usize = 500;
/// Server cap on `/query` `limit` (returned in the response when it clamps).
pub const MAX_QUERY_LIMIT: usize = 1000;
/// Server cap on `/changes` when the client gives no (or a larger) `maxChanges`.
pub const MAX_CHANGES: usize = 5000;
/// How long the change log is kept: states older than this get `cannotCalculateChanges`.
pub const CHANGE_LOG_DAYS: i64 = 30;
/// Conditions and operators in one `/query` filter (`unsupportedFilter` beyond).
pub const MAX_FILTER_CONDITIONS: usize = 100;
/// Nesting of filter operators (`unsupportedFilter` beyond).
pub const MAX_FILTER_DEPTH: usize = 10;
/// Comparators in one `/query` sort (`unsupportedSort` beyond).
pub const MAX_SORT_COMPARATORS: usize = 8;
