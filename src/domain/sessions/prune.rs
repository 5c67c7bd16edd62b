//! Pruning expired and revoked sessions in short batches.
