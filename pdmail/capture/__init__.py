"""Capture: the one path every email takes in, Smart BCC's sender check, batches and input files."""
