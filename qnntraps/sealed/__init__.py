"""Sealed execution: a plug-in optimizer runs in its own process and reaches the instance only
through a channel to the harness's oracle.

`channel` is the wire format (JSON headers and raw arrays, never pickle); `zygote` starts one
clean process per run and forks a worker per chunk from it; `worker` runs in that process and
drives the optimizer through `proxy.OracleProxy`; `serve` is the harness's side, which answers
every request with its own oracle and ends every restart the worker left open with a flag.
"""
