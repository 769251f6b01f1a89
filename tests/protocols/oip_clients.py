"""Run by the tests inside .tools/oip (Triton's and KServe's own Python clients, which pin
libraries below mlfn's): call an Open Inference Protocol server as those clients do and
print what they read back, as JSON. Arguments: host:port, a bearer token, rows as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np


def _text(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def triton(address: str, headers: dict[str, str], rows: list[dict[str, float]]) -> dict:
    import tritonclient.http as http

    client = http.InferenceServerClient(url=address)
    names = list(rows[0])
    by_name = []
    for name in names:
        tensor = http.InferInput(name, [len(rows), 1], "FP64")
        tensor.set_data_from_numpy(np.array([[r[name]] for r in rows]), binary_data=False)
        by_name.append(tensor)
    wanted = [http.InferRequestedOutput(n, binary_data=False) for n in ("label", "probabilities")]
    first = client.infer("iris", by_name, outputs=wanted, headers=headers, request_id="t-1")
    matrix = http.InferInput("input-0", [len(rows), len(names)], "FP32")
    values = np.array([[r[n] for n in names] for r in rows], dtype=np.float32)
    matrix.set_data_from_numpy(values, binary_data=False)
    second = client.infer("iris", [matrix], outputs=wanted[:1], headers=headers)
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("iris", headers=headers),
        "metadata": client.get_model_metadata("iris", headers=headers),
        "labels": _text(first.as_numpy("label")),
        "probabilities": first.as_numpy("probabilities").tolist(),
        "id": first.get_response()["id"],
        "model_version": first.get_response()["model_version"],
        "labels_from_matrix": _text(second.as_numpy("label")),
    }


async def kserve(address: str, headers: dict[str, str], rows: list[dict[str, float]]) -> dict:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    base = f"http://{address}"
    inputs = [InferInput(name=n, shape=[len(rows), 1], datatype="FP64",
                         data=[r[n] for r in rows]) for n in rows[0]]  # fmt: skip
    request = InferRequest(model_name="iris", infer_inputs=inputs, request_id="k-1")
    answer = await client.infer(base, request, model_name="iris", headers=headers)
    outputs = {o.name: o for o in answer.outputs}
    found = {
        "live": await client.is_server_live(base),
        "ready": await client.is_server_ready(base),
        "model_ready": await client.is_model_ready(base, "iris", headers=headers),
        "labels": _text(outputs["label"].data),
        "probabilities": np.asarray(outputs["probabilities"].data).reshape(len(rows), -1).tolist(),
        "id": answer.id,
    }
    await client.close()
    return found


def main() -> None:
    address, token, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    headers = {"Authorization": f"Bearer {token}"}
    found = {"triton": triton(address, headers, rows),
             "kserve": asyncio.run(kserve(address, headers, rows))}  # fmt: skip
    print(json.dumps(found))


if __name__ == "__main__":
    main()
