"""The physical limit for one-row /predict on this machine: a bare ASGI app that only parses
the JSON (`dataframe_split`), runs the same ONNX session and writes the answer — no auth, no
validation, no telemetry — under the same uvicorn (uvloop, httptools) as `mlfn serve`.

    python -m bench.bare_server MODEL.onnx PORT
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn


def make_app(model_path: str) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as mlfn's sessions: one row needs no thread pool
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    input_names = [node.name for node in session.get_inputs()]  # one 1-D input per feature
    output_names = [output.name for output in session.get_outputs()]  # label, probability_k

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        split = orjson.loads(b"".join(chunks))["dataframe_split"]
        data = np.asarray(split["data"], dtype=np.float32)
        where = {column: i for i, column in enumerate(split["columns"])}
        feeds = {name: data[:, where[name]] for name in input_names}
        labels, *probabilities = session.run(output_names, feeds)
        body = orjson.dumps(
            {
                "predictions": labels.tolist(),
                "probabilities": np.column_stack(probabilities).tolist(),
            }
        )
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    model_path, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(make_app(model_path), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)  # fmt: skip


if __name__ == "__main__":
    main()
