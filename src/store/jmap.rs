//! Tables of the jmap feature (placeholder: being written in this session).
