//! Heap audit (to come).
