"""Parse (and optionally transform) template.yaml in a child process, printing JSON.

samcli and samtranslator change PyYAML's global representers when imported, which breaks
MLflow's YAML writing later in the same test process; a child process keeps them apart.
"""

from __future__ import annotations

import json
import sys


class _NoManagedPolicyLookups:
    def load(self) -> dict[str, str]:
        return {}


def main(path: str, mode: str) -> None:
    from samcli.yamlhelper import yaml_parse

    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    if mode == "transform":
        from samtranslator.translator.transform import transform

        for resource in template["Resources"].values():  # transform() wants uploaded artifacts
            properties = resource["Properties"]
            if properties.get("PackageType") == "Image":
                properties["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlfn:v1"
            elif resource["Type"] == "AWS::Serverless::Function":
                properties["CodeUri"] = "s3://deploy-artifacts/predict.zip"
        parameters = {"ArtifactBucketName": "mlfn-iris-dev"}
        template = transform(template, parameters, _NoManagedPolicyLookups())
    print(json.dumps(template))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
