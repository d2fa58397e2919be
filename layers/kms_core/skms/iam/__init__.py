"""Huawei IAM as KMS sees it: each operation's action (:mod:`skms.iam.actions`) and policy documents,
parsed and evaluated (:mod:`skms.iam.policy`). Pure: no storage, no AWS."""
