package cloud

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Ollama has no authentication of its own. On the cloud each AI pod runs
// it on loopback (OllamaLoopback) behind nginx, which listens on Ollama's
// port and passes a request on only with the stage's key as a bearer
// token (nextflow:aiApiKey, the CRM's OLLAMA_API_KEY_FILE), in the
// Authorization header as OpenAI-compatible clients send it (Ollama's own
// CLI sends none). /api/version, which holds no data, passes without it (the
// blackbox probe's liveness check); model management (pull, push, create,
// copy, delete, blobs) is refused to everyone, as on the server: the pod
// pulls its own models.
const (
	// OllamaLoopback is where Ollama listens inside the AI pod.
	OllamaLoopback = "127.0.0.1:11435"
	// AIProxyContainer is the nginx container in front of it.
	AIProxyContainer = "auth"
	aiProxyConfig    = "nginx.conf"
	aiProxyKeyFile   = "key.conf"
	aiProxyDir       = "/etc/nfx-ai"
)

// aiProxyHead is the proxy's process and where it writes: its pid and
// temporary files in the pod's /tmp, its log on stderr, no access log.
const aiProxyHead = `worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
`

// AIProxyConf is the AI pod's nginx configuration. nginx runs as the
// pod's unprivileged user on a read-only root: its pid and temporary
// files go to the pod's /tmp. The proxied request keeps nginx's own Host
// (the loopback address): Ollama 0.5.7, bound to loopback, answers 403 to
// a Host that is not loopback, private or local (server/routes.go,
// allowedHostsMiddleware), and the CRM's would be the Service's name.
// Answers stream token by token: no buffering either way, long reads.
func AIProxyConf() string {
	return fmt.Sprintf(`# Rendered by nfx: the AI API's key, checked in front of Ollama.
`+aiProxyHead+`  # Prompts with images, as base64 in the JSON body.
  client_max_body_size 64m;
  server {
    listen %[3]d;
    # Sets $nfx_ai_key to "Bearer <the key>", compared as it is below. A
    # map would not do: it matches whatever the case (ngx_http_map_find
    # lowercases, nginx 1.27.3).
    include %[1]s/key/%[2]s;
    location = /api/version {
      proxy_pass http://%[4]s;
    }
    location ~ ^/api/(pull|push|create|copy|delete|blobs)(/|$) {
      return 403;
    }
    location / {
      if ($http_authorization != $nfx_ai_key) {
        add_header WWW-Authenticate 'Bearer realm="nextflow-ai"' always;
        return 401;
      }
      proxy_pass http://%[4]s;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
      proxy_send_timeout 600s;
    }
  }
}
`, aiProxyDir, aiProxyKeyFile, model.OllamaPort, OllamaLoopback)
}

// VLLMProxyConf is the AI pod's nginx configuration in front of vLLM's two
// servers, the LLM's and, with embed, the embedding model's: OpenAI's API
// under /v1 with the stage's key (the servers themselves ask for none, and
// vLLM's --api-key would guard only /v1), /v1/embeddings to the embedding
// model's server; vLLM's health check (GET /health, which holds no data)
// and both servers' metrics for Prometheus without it; nothing else.
func VLLMProxyConf(embed bool) string {
	embeddings := "      return 404;\n"
	metrics := ""
	if embed {
		embeddings = fmt.Sprintf("      proxy_pass http://127.0.0.1:%d;\n", model.VLLMEmbedPort)
		metrics = fmt.Sprintf("    location = %s {\n      proxy_pass http://127.0.0.1:%d/metrics;\n    }\n", model.VLLMEmbedMetrics, model.VLLMEmbedPort)
	}
	return fmt.Sprintf(`# Rendered by nfx: the AI API's key, checked in front of vLLM.
`+aiProxyHead+`  client_max_body_size 64m;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_buffering off;
  proxy_request_buffering off;
  proxy_read_timeout 600s;
  proxy_send_timeout 600s;
  server {
    listen %[3]d;
    include %[1]s/key/%[2]s;
    location = /health {
      proxy_pass http://127.0.0.1:%[4]d;
    }
    location = /metrics {
      proxy_pass http://127.0.0.1:%[4]d;
    }
%[5]s    location /v1/ {
      if ($http_authorization != $nfx_ai_key) {
        add_header WWW-Authenticate 'Bearer realm="nextflow-ai"' always;
        return 401;
      }
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_pass http://127.0.0.1:%[4]d;
    }
    location = /v1/embeddings {
      if ($http_authorization != $nfx_ai_key) {
        add_header WWW-Authenticate 'Bearer realm="nextflow-ai"' always;
        return 401;
      }
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
%[6]s    }
    location / {
      return 404;
    }
  }
}
`, aiProxyDir, aiProxyKeyFile, model.OllamaPort, model.VLLMLLMPort, metrics, embeddings)
}

// AIProxyKeyLine sets the Authorization header that carries the key. The
// key's characters need no escaping in a quoted nginx string: nfx's
// secrets hold no quote, backslash, $, space or newline (secretValueRE).
func AIProxyKeyLine(key string) string { return fmt.Sprintf("set $nfx_ai_key \"Bearer %s\";\n", key) }

// aiProxy makes the proxy's ConfigMap and the Secret of its key's entry,
// and returns its container and volumes.
func (r *realisation) aiProxy(name, conf string, health string) (corev1.ContainerArgs, corev1.VolumeArray, error) {
	k := r.k
	key, ok := k.secrets[model.SecretAIAPIKey]
	if !ok {
		return corev1.ContainerArgs{}, nil, fmt.Errorf("secret %s has no value", model.SecretAIAPIKey)
	}
	confMap, keys := name+"-auth", name+"-auth-key"
	if _, err := corev1.NewConfigMap(k.ctx, k.name(confMap), &corev1.ConfigMapArgs{
		Metadata: meta(confMap, appLabels(name)),
		Data:     pulumi.StringMap{aiProxyConfig: pulumi.String(conf)},
	}, k.opts(name, r.inNS)...); err != nil {
		return corev1.ContainerArgs{}, nil, err
	}
	line := key.ApplyT(func(v string) string { return AIProxyKeyLine(v) }).(pulumi.StringOutput)
	if _, err := corev1.NewSecret(k.ctx, k.name(keys), &corev1.SecretArgs{
		Metadata: meta(keys, appLabels(name)), Type: pulumi.String("Opaque"),
		StringData: pulumi.StringMap{aiProxyKeyFile: pulumi.ToSecret(line).(pulumi.StringOutput)},
	}, k.opts(name, r.inNS)...); err != nil {
		return corev1.ContainerArgs{}, nil, err
	}
	readOnly := 0o440
	c := corev1.ContainerArgs{
		Name: pulumi.String(AIProxyContainer), Image: pulumi.String(r.cfg.Nginx.Image), ImagePullPolicy: pulumi.String("Always"),
		// Its log on stderr from the start: the image's default path is a
		// link to it, but the root is read-only and the user unprivileged.
		Command:         pulumi.ToStringArray([]string{"nginx", "-e", "stderr", "-c", aiProxyDir + "/conf/" + aiProxyConfig, "-g", "daemon off;"}),
		Ports:           corev1.ContainerPortArray{corev1.ContainerPortArgs{Name: pulumi.String("api"), ContainerPort: pulumi.Int(model.OllamaPort)}},
		Resources:       resources(model.AIProxySizing, nil),
		SecurityContext: restricted(),
		// Ready when the engine answers through it.
		ReadinessProbe: httpProbe(health, model.OllamaPort, 15, 3),
		LivenessProbe:  tcpProbe(model.OllamaPort, 20, 3),
		VolumeMounts: corev1.VolumeMountArray{
			// Side by side: a mount inside a ConfigMap's read-only volume
			// would need a directory the kubelet cannot make there.
			corev1.VolumeMountArgs{Name: pulumi.String("auth"), MountPath: pulumi.String(aiProxyDir + "/conf"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("auth-key"), MountPath: pulumi.String(aiProxyDir + "/key"), ReadOnly: pulumi.Bool(true)},
			corev1.VolumeMountArgs{Name: pulumi.String("auth-tmp"), MountPath: pulumi.String("/tmp")},
		},
	}
	vols := corev1.VolumeArray{
		corev1.VolumeArgs{Name: pulumi.String("auth"), ConfigMap: corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(confMap)}},
		corev1.VolumeArgs{Name: pulumi.String("auth-key"), Secret: corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(keys), DefaultMode: pulumi.Int(readOnly)}},
		corev1.VolumeArgs{Name: pulumi.String("auth-tmp"), EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}},
	}
	return c, vols, nil
}
