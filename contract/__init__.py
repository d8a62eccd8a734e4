"""contract: what every port shares, apart from any one port (docs/DESIGN.md §4-§5): the interface
(api.py: Batch, Pipeline, pad_rows, the model directory and its spec), the bad-input contract
(texts.py, stdlib only), the model-spec reader every Python port takes its settings from (spec.py,
spec_tokenizer.py; cpp_port/model_spec.cpp and wasm_port/js/spec.mjs translate it), the pipe to a
served model process (serve_pipe.py, served.py: one base class for the ports that run a process) and
the seeded random weights (weights.py). Leaves out: any stage of the pipeline (python_ref has those).
"""
