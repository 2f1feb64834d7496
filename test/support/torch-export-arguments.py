# Builds an exported optimizer with each case's arguments (a Python expression, so inf and nan can be written) and
# says what it raised: JSON {file, class, cases: [{name, kwargs, group?}]} in, {name: error text or null} out.
import importlib.util
import json
import math
import sys

import torch

spec = json.load(sys.stdin)
module_spec = importlib.util.spec_from_file_location("exported", spec["file"])
module = importlib.util.module_from_spec(module_spec)
module_spec.loader.exec_module(module)
cls = getattr(module, spec["class"])
scope = {"math": math, "torch": torch, "inf": math.inf, "nan": math.nan}

out = {}
for case in spec["cases"]:
    param = torch.nn.Parameter(torch.ones(3))
    try:
        kwargs = eval(case["kwargs"], scope)
        optimizer = cls([param], **kwargs)
        if "group" in case:
            group = eval(case["group"], scope)
            group["params"] = [torch.nn.Parameter(torch.ones(2))]
            optimizer.add_param_group(group)
            out[case["name"] + " groups"] = len(optimizer.param_groups)
        out[case["name"]] = None
    except ValueError as e:
        out[case["name"]] = f"ValueError: {e}"
json.dump(out, sys.stdout)
