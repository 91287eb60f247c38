"""Oracles: the only view of an instance an optimizer gets — counted, budgeted, closed per restart.

`budget` says what one restart may spend; `oracle` counts and refuses, keeps each restart's best
and last evaluated points, and decides the point a restart is scored at; `protocol` is the
interface every optimizer adapter programs against, in the harness's process or, sealed, in a
worker process through a channel.
"""
