"""The arena: people vote between two pages; ratings, the next pair to show, agreement.

``ratings.py`` fits Bradley–Terry ratings to the votes (``records/votes.py``) with
bootstrap intervals, and measures how often the smoke checks and the vision judge
pick the side people picked; ``pairs.py`` chooses the next pair to show;
``service.py`` is what ``gallery serve`` answers on ``/api/``.
"""
