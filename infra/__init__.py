"""Infrastructure as code: config models -> Kubernetes objects -> Pulumi resources or GitOps files."""
