"""skms: a serverless KMS that speaks the Huawei Cloud KMS v1.0 API."""
