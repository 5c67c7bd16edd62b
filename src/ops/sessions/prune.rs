//! `sessions prune`: expired and revoked sessions deleted in short batches.
