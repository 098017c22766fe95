"""The judge stage: a vision model scores each rendered page against its prompt's rubric.

``request.py`` builds what is sent (the prompt, the rubric, the frames, the smoke
checks, the source), ``reply.py`` reads the model's scores back or says why they
cannot be read, and ``stage.py`` runs a judge lane over a run and writes each
sample's ``judgement.json``.
"""
