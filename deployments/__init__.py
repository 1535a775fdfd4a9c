"""How the four flows are deployed: served on one machine (`serve.py`) or run by workers (`prefect.yaml`).

`trigger.py` starts a deployment's run over Prefect's REST API, as an outside system would.
"""
