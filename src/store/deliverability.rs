//! Tables of the deliverability feature (placeholder: being written in this session).
