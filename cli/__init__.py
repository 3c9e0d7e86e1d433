"""The `firstline` command line: the outermost layer (it may start the app, run the eval and the benchmarks)."""
