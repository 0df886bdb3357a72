"""``NOVA_ENGINE=bedrock``: Amazon Nova Sonic over ``aws-sdk-bedrock-runtime`` (installed with the
``voice-nova[bedrock]`` extra).

Modules, one job each: ``settings`` (NOVA_BEDROCK_*), ``client`` (the shared SDK client),
``events`` (Nova input events), ``outputs`` (Nova output events), ``stream`` (one bidirectional
stream), ``conversation`` (outputs -> engine events, turns, history), ``history`` (shaping to
Nova's limits), ``audio`` (the user's recent audio), ``errors`` (failure -> retry or give up),
``rotation`` (the overlapped hand-off before the stream limit), ``engine``, ``factory``, ``metrics``.
"""
