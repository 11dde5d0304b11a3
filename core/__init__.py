"""Butler's bottom layer: what every app may import and that imports none of them.

- `errors`: the domain error services raise (the API maps it to a 4xx; nothing here knows HTTP)
- `events`: the one publisher of events (status changes, log batches, deletions)
- `processes`: the one streaming subprocess runner (kill on timeout or on cancel)
- `cancel`: the token a long operation checks to stop early
"""
