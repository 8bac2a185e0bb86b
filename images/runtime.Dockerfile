# kf's function runtime image: Kubeless-compatible (MOD_NAME, FUNC_HANDLER, FUNC_TIMEOUT, FUNC_PORT,
# the function mounted at /kubeless), serving with `python -m kfshell.runtime`, with kubectl beside it.
#
#   docker build -f images/runtime.Dockerfile -t kf-runtime:0.1.0 .      (from the repository root)
#
# See images/README.md for registering it as Kubeless's python3.11 runtime.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kfshell ./kfshell
COPY functions ./functions
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ARG KUBECTL_VERSION=v1.36.0
ARG TARGETARCH=amd64
# kubectl, checked against the release's published sha256.
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl /usr/local/bin/kubectl
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256 /tmp/kubectl.sha256
RUN echo "$(cat /tmp/kubectl.sha256)  /usr/local/bin/kubectl" | sha256sum --check --strict \
 && chmod 0755 /usr/local/bin/kubectl \
 && rm /tmp/kubectl.sha256
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

# Kubeless mounts the function's source (and installs its requirements with
# `pip install --prefix=/kubeless`) into this volume; the runtime adds both to sys.path.
ENV KUBELESS_INSTALL_VOLUME=/kubeless \
    FUNC_PORT=8080 \
    FUNC_RUNTIME=python3.11 \
    PYTHONUNBUFFERED=1
RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin kubeless && mkdir -p /kubeless
WORKDIR /kubeless
USER 1000
EXPOSE 8080
ENTRYPOINT ["python", "-m", "kfshell.runtime"]
