"""Live completion for kf: a background refresher builds immutable snapshots of what can be completed,
and a completer decides what belongs at the cursor and ranks names from the current snapshot.
"""
