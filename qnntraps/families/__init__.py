"""Instance families: generators that turn documented seeds into Instances (DESIGN.md §3-§4)."""
