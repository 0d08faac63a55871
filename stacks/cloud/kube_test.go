package cloud_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/internal/testutil"
	"github.com/nextflow-crm/nfx/stacks/cloud"
)

// kinds maps each kind the cloud stage renders to its API path; a kind
// missing here fails the test, so a new one is applied too.
var kinds = map[string]struct {
	base, plural string
	namespaced   bool
}{
	"Namespace": {"/api/v1", "namespaces", false}, "ConfigMap": {"/api/v1", "configmaps", true},
	"Secret": {"/api/v1", "secrets", true}, "Service": {"/api/v1", "services", true},
	"ServiceAccount": {"/api/v1", "serviceaccounts", true}, "Deployment": {"/apis/apps/v1", "deployments", true},
	"StatefulSet": {"/apis/apps/v1", "statefulsets", true}, "DaemonSet": {"/apis/apps/v1", "daemonsets", true},
	"HorizontalPodAutoscaler":  {"/apis/autoscaling/v2", "horizontalpodautoscalers", true},
	"CronJob":                  {"/apis/batch/v1", "cronjobs", true},
	"PersistentVolumeClaim":    {"/api/v1", "persistentvolumeclaims", true},
	"Job":                      {"/apis/batch/v1", "jobs", true},
	"NetworkPolicy":            {"/apis/networking.k8s.io/v1", "networkpolicies", true},
	"PodDisruptionBudget":      {"/apis/policy/v1", "poddisruptionbudgets", true},
	"StorageClass":             {"/apis/storage.k8s.io/v1", "storageclasses", false},
	"ServiceMonitor":           {"/apis/monitoring.coreos.com/v1", "servicemonitors", true},
	"Probe":                    {"/apis/monitoring.coreos.com/v1", "probes", true},
	"PrometheusRule":           {"/apis/monitoring.coreos.com/v1", "prometheusrules", true},
	"CustomResourceDefinition": {"/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", false},
	"Node":                     {"/api/v1", "nodes", false}, "PersistentVolume": {"/api/v1", "persistentvolumes", false},
}

func objPath(t *testing.T, obj map[string]any) string {
	t.Helper()
	kind, _ := obj["kind"].(string)
	k, ok := kinds[kind]
	if !ok {
		t.Fatalf("the cloud stage renders a %s, which this test does not know how to apply", kind)
	}
	md, _ := obj["metadata"].(map[string]any)
	p := k.base
	if k.namespaced {
		p += "/namespaces/" + fmt.Sprint(md["namespace"])
	}
	return p + "/" + k.plural + "/" + fmt.Sprint(md["name"])
}

// apply server-side applies one object: the API server validates,
// defaults and admits it (PodSecurity included) as on EKS.
func apply(t *testing.T, kc *testutil.Kube, obj map[string]any) error {
	t.Helper()
	body, _ := json.Marshal(obj)
	code, out, err := kc.Do("PATCH", objPath(t, obj)+"?fieldManager=nfx&force=true", "application/apply-patch+yaml", body)
	if err != nil {
		return err
	}
	if code >= 300 {
		return fmt.Errorf("%s %v: %d %s", obj["kind"], obj["metadata"].(map[string]any)["name"], code, out)
	}
	return nil
}

func readObjects(t *testing.T, dir string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	sort.Strings(files)
	var out []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, obj)
	}
	// Namespaces and cluster-wide objects first, as Pulumi orders them.
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func rank(o map[string]any) int {
	switch o["kind"] {
	case "Namespace", "StorageClass", "CustomResourceDefinition":
		return 0
	case "Secret", "ConfigMap", "ServiceAccount":
		return 1
	}
	return 2
}

// nodes registers the cloud stage's node groups as kwok nodes: the general
// pool's desired count of its instance type and the GPU pool's, spread
// over three zones, with the pools' labels and the GPU taint.
func nodes(t *testing.T, kc *testutil.Kube, cfg *model.Config) {
	t.Helper()
	c := cfg.Cloud
	zones := []string{c.Region + "a", c.Region + "b", c.Region + "c"}
	add := func(name, zone, pool string, cpus int, memGiB int, gpus int) {
		capacity := map[string]any{"cpu": fmt.Sprint(cpus), "memory": fmt.Sprintf("%dGi", memGiB), "pods": "58", "ephemeral-storage": "80Gi"}
		labels := map[string]any{"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone, cloud.PoolLabel: pool,
			"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}
		spec := map[string]any{}
		if gpus > 0 {
			capacity[cloud.GPUResource] = fmt.Sprint(gpus)
			labels["nvidia.com/gpu.present"] = "true"
			spec["taints"] = []any{map[string]any{"key": cloud.GPUTaintKey, "value": "true", "effect": "NoSchedule"}}
		}
		node := map[string]any{"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{"name": name, "labels": labels, "annotations": map[string]any{"kwok.x-k8s.io/node": "fake"}},
			"spec":     spec, "status": map[string]any{"capacity": capacity, "allocatable": capacity}}
		if err := apply(t, kc, node); err != nil {
			t.Fatal(err)
		}
	}
	// The general type (m6i.xlarge: 4 vCPUs, 16 GiB, by EC2's instance types) and the GPU type from nfx's table, one GPU each.
	for i := 0; i < c.NodeDesired; i++ {
		add(fmt.Sprintf("general-%d", i+1), zones[i%3], cloud.GeneralPool, 4, 16, 0)
	}
	for i := 0; i < c.GPUDesired; i++ {
		g := aws.GPUInstances[c.GPUInstanceType]
		add(fmt.Sprintf("gpu-%d", i+1), zones[i%3], cloud.GPUPoolName, g.VCPUs, g.MemoryGiB, 1)
	}
}

// volumes stands in for the EBS CSI driver, which cannot run here: one
// pre-bound PersistentVolume of the claim's class and size per claim the
// StatefulSets will make.
func volumes(t *testing.T, kc *testutil.Kube, objs []map[string]any) int {
	t.Helper()
	n := 0
	for _, o := range objs {
		if o["kind"] != "StatefulSet" {
			continue
		}
		md := o["metadata"].(map[string]any)
		spec := o["spec"].(map[string]any)
		replicas, _ := spec["replicas"].(int)
		claims, _ := spec["volumeClaimTemplates"].([]any)
		for _, ct := range claims {
			claim := ct.(map[string]any)
			cname := claim["metadata"].(map[string]any)["name"]
			cs := claim["spec"].(map[string]any)
			size := cs["resources"].(map[string]any)["requests"].(map[string]any)["storage"]
			for i := 0; i < replicas; i++ {
				pvc := fmt.Sprintf("%s-%s-%d", cname, md["name"], i)
				pv := map[string]any{"apiVersion": "v1", "kind": "PersistentVolume",
					"metadata": map[string]any{"name": "pv-" + pvc},
					"spec": map[string]any{"capacity": map[string]any{"storage": size}, "accessModes": cs["accessModes"],
						"storageClassName": cs["storageClassName"], "hostPath": map[string]any{"path": "/tmp/" + pvc},
						"persistentVolumeReclaimPolicy": "Retain",
						"claimRef":                      map[string]any{"namespace": md["namespace"], "name": pvc}}}
				if err := apply(t, kc, pv); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
	return n
}

// isPatch says whether a manifest patches an object another creates.
func isPatch(o map[string]any) bool {
	ann, _ := at(o, "metadata", "annotations").(map[string]any)
	_, ok := ann["pulumi.com/patchForce"]
	return ok
}

// runCronJobs starts a Job from each CronJob as `kubectl create job
// --from=cronjob/NAME` does, each with an unbound volume of the storage
// class its scratch claim asks for (the EBS CSI driver's stand-in): the
// ephemeral-volume controller claims it, the scheduler binds it and places
// the pod, PodSecurity admits the pod, and kwok completes it (a Job's pod;
// kwok runs no container). Every Job must complete.
func runCronJobs(t *testing.T, kc *testutil.Kube, objs []map[string]any) int {
	t.Helper()
	var names []string
	for _, o := range objs {
		if o["kind"] != "CronJob" {
			continue
		}
		md := o["metadata"].(map[string]any)
		name, ns := md["name"].(string), md["namespace"].(string)
		tmpl := at(o, "spec", "jobTemplate", "spec").(map[string]any)
		for _, v := range at(tmpl, "template", "spec", "volumes").([]any) {
			claim := at(v, "ephemeral", "volumeClaimTemplate", "spec")
			if claim == nil {
				continue
			}
			cs := claim.(map[string]any)
			pv := map[string]any{"apiVersion": "v1", "kind": "PersistentVolume",
				"metadata": map[string]any{"name": "pv-" + name},
				"spec": map[string]any{"capacity": map[string]any{"storage": at(cs, "resources", "requests", "storage")},
					"accessModes": cs["accessModes"], "storageClassName": cs["storageClassName"],
					"hostPath": map[string]any{"path": "/tmp/" + name}, "persistentVolumeReclaimPolicy": "Delete"}}
			if err := apply(t, kc, pv); err != nil {
				t.Fatal(err)
			}
		}
		job := map[string]any{"apiVersion": "batch/v1", "kind": "Job",
			"metadata": map[string]any{"name": name + "-manual", "namespace": ns,
				"annotations": map[string]any{"cronjob.kubernetes.io/instantiate": "manual"}},
			"spec": tmpl}
		if err := apply(t, kc, job); err != nil {
			t.Errorf("the Job of CronJob %s is refused: %v", name, err)
			continue
		}
		names = append(names, ns+"/"+name+"-manual")
	}
	if len(names) == 0 {
		t.Fatal("the cloud stage renders no CronJob")
	}
	status := func(job string) string {
		ns, name, _ := strings.Cut(job, "/")
		o := kc.Get(t, objPath(t, map[string]any{"kind": "Job", "metadata": map[string]any{"namespace": ns, "name": name}}))
		conds, _ := at(o, "status", "conditions").([]any)
		for _, c := range conds {
			if at(c, "type") == "Complete" && at(c, "status") == "True" {
				return "Complete"
			}
		}
		return fmt.Sprint(o["status"])
	}
	if !kc.Poll(2*time.Minute, func() bool {
		for _, j := range names {
			if status(j) != "Complete" {
				return false
			}
		}
		return true
	}) {
		for _, j := range names {
			t.Errorf("Job %s: %s", j, status(j))
		}
		pods := kc.Get(t, "/api/v1/namespaces/nextflow/pods?labelSelector=batch.kubernetes.io%2Fcontroller-uid")
		for _, p := range pods["items"].([]any) {
			t.Logf("pod %v: %v", at(p, "metadata", "name"), at(p, "status"))
		}
		t.FailNow()
	}
	return len(names)
}

// kubeWithCRDs starts a control plane with the Prometheus Operator's CRDs
// (the monitoring's objects are its kinds).
func kubeWithCRDs(t *testing.T) *testutil.Kube {
	t.Helper()
	kc := testutil.KubeCluster(t)
	crds, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "bin", "kube", "crds", "*.yaml"))
	for _, f := range crds {
		data, _ := os.ReadFile(f)
		var crd map[string]any
		_ = yaml.Unmarshal(data, &crd)
		if err := apply(t, kc, crd); err != nil {
			t.Fatal(err)
		}
	}
	if !kc.Poll(60*time.Second, func() bool {
		code, _, _ := kc.Do("GET", "/apis/monitoring.coreos.com/v1/servicemonitors", "", nil)
		return code == 200
	}) {
		t.Fatal("the Prometheus Operator's CRDs were not established")
	}
	return kc
}

// The cloud stage's Kubernetes objects on a real API server, scheduler and
// controllers, with kwok playing the node groups: every object admitted,
// every pod scheduled where it can run, every workload ready, a second
// render accepted over the first, and a clean delete.
func TestCloudOnARealAPIServer(t *testing.T) {
	kc := kubeWithCRDs(t)
	res, _ := run(t, nil)
	dir, _ := manifests(t, res)
	objs := readObjects(t, filepath.Join(dir, "k8s"))
	cfg, ds := model.Load("cloud", raw(nil), model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	nodes(t, kc, cfg)
	claims := volumes(t, kc, objs)
	start := time.Now()
	for _, o := range objs {
		if isPatch(o) {
			continue // once the objects it patches exist
		}
		if err := apply(t, kc, o); err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	if t.Failed() {
		return
	}
	type workload struct{ kind, ns, name string }
	var workloads []workload
	for _, o := range objs {
		switch o["kind"] {
		case "Deployment", "StatefulSet", "DaemonSet":
			md := o["metadata"].(map[string]any)
			workloads = append(workloads, workload{o["kind"].(string), md["namespace"].(string), md["name"].(string)})
		}
	}
	ready := func(w workload) (bool, string) {
		o := kc.Get(t, objPath(t, map[string]any{"kind": w.kind, "metadata": map[string]any{"namespace": w.ns, "name": w.name}}))
		st, _ := o["status"].(map[string]any)
		num := func(k string) float64 { v, _ := st[k].(float64); return v }
		if w.kind == "DaemonSet" {
			return num("desiredNumberScheduled") > 0 && num("numberReady") == num("desiredNumberScheduled"), fmt.Sprint(st)
		}
		spec := o["spec"].(map[string]any)
		want, _ := spec["replicas"].(float64)
		return want > 0 && num("readyReplicas") == want, fmt.Sprint(st)
	}
	ok := kc.Poll(3*time.Minute, func() bool {
		for _, w := range workloads {
			if r, _ := ready(w); !r {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, w := range workloads {
			if r, st := ready(w); !r {
				t.Errorf("%s %s/%s not ready: %s", w.kind, w.ns, w.name, st)
			}
		}
		pods := kc.Get(t, "/api/v1/namespaces/nextflow/pods")
		for _, p := range pods["items"].([]any) {
			pm := p.(map[string]any)
			t.Logf("pod %v: %v", pm["metadata"].(map[string]any)["name"], pm["status"].(map[string]any)["conditions"])
		}
		t.FailNow()
	}
	t.Logf("%d objects applied, %d workloads ready, %d volumes bound, in %s", len(objs), len(workloads), claims, time.Since(start).Round(time.Second))
	// kwok runs no kubelet: a pod whose Secret or ConfigMap is missing
	// reads ready here and hangs in ContainerCreating on EKS. Every one a
	// workload mounts must exist in its namespace.
	mounted := 0
	for _, w := range workloads {
		o := kc.Get(t, objPath(t, map[string]any{"kind": w.kind, "metadata": map[string]any{"namespace": w.ns, "name": w.name}}))
		vols, _ := at(o, "spec", "template", "spec", "volumes").([]any)
		for _, v := range vols {
			for kind, ref := range map[string]any{"Secret": at(v, "secret", "secretName"), "ConfigMap": at(v, "configMap", "name")} {
				if ref == nil {
					continue
				}
				mounted++
				if code, _, _ := kc.Do("GET", objPath(t, map[string]any{"kind": kind, "metadata": map[string]any{"namespace": w.ns, "name": ref}}), "", nil); code != 200 {
					t.Errorf("%s %s mounts the %s %v, which the render does not create (%d)", w.kind, w.name, kind, ref, code)
				}
			}
		}
	}
	if mounted == 0 {
		t.Error("no workload mounts a Secret or a ConfigMap")
	}
	t.Logf("%d CronJobs' jobs run to completion", runCronJobs(t, kc, objs))
	// The claims' sizes, patched once the StatefulSets made them: the
	// same size is no change; a bigger one is accepted (gp3 allows
	// expansion); a smaller one is refused by the API server, which is
	// what a user who lowers cloud.qdrantStorageGB sees.
	resize := func(values map[string]string) []error {
		res, _ := run(t, values)
		dir, _ := manifests(t, res)
		var errs []error
		for _, o := range readObjects(t, filepath.Join(dir, "k8s")) {
			if isPatch(o) {
				if err := apply(t, kc, o); err != nil {
					errs = append(errs, err)
				}
			}
		}
		return errs
	}
	if errs := resize(nil); len(errs) != 0 {
		t.Errorf("the claims' sizes: %v", errs)
	}
	if errs := resize(map[string]string{"cloud": `{"qdrantStorageGB": 80, "modelStorageGB": 150}`}); len(errs) != 0 {
		t.Errorf("growing the volumes: %v", errs)
	}
	if got := at(kc.Get(t, "/api/v1/namespaces/nextflow/persistentvolumeclaims/storage-qdrant-2"), "spec", "resources", "requests", "storage"); got != "80Gi" {
		t.Errorf("storage-qdrant-2 asks %v after growing to 80Gi", got)
	}
	if errs := resize(map[string]string{"cloud": `{"qdrantStorageGB": 20}`}); len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), "can not be less than") {
		t.Errorf("shrinking a volume was not refused: %v", errs)
	}
	// Where each pod landed.
	nodeOf := map[string]map[string]any{}
	for _, n := range kc.Get(t, "/api/v1/nodes")["items"].([]any) {
		nm := n.(map[string]any)["metadata"].(map[string]any)
		nodeOf[nm["name"].(string)] = nm["labels"].(map[string]any)
	}
	zonesOf := map[string]map[string]bool{}
	for _, p := range kc.Get(t, "/api/v1/namespaces/nextflow/pods")["items"].([]any) {
		pm := p.(map[string]any)
		app := fmt.Sprint(pm["metadata"].(map[string]any)["labels"].(map[string]any)["app.kubernetes.io/name"])
		labels := nodeOf[fmt.Sprint(pm["spec"].(map[string]any)["nodeName"])]
		pool := labels[cloud.PoolLabel]
		if (app == model.PartAI) != (pool == cloud.GPUPoolName) {
			t.Errorf("%s pod on the %v pool", app, pool)
		}
		if zonesOf[app] == nil {
			zonesOf[app] = map[string]bool{}
		}
		zonesOf[app][fmt.Sprint(labels["topology.kubernetes.io/zone"])] = true
	}
	for _, app := range []string{model.PartQdrant, model.PartTunnel} {
		if len(zonesOf[app]) < 2 {
			t.Errorf("%s's pods share one zone: %v", app, zonesOf[app])
		}
	}
	// A second render with the changes users make (more CRM pods, another
	// model, a bigger CRM) applies over the first: no immutable field moves.
	res2, _ := run(t, map[string]string{"crm": `{"replicas": 12, "cpus": 2}`, "ai": `{"model": "llama3.2:3b"}`})
	dir2, _ := manifests(t, res2)
	for _, o := range readObjects(t, filepath.Join(dir2, "k8s")) {
		if isPatch(o) {
			continue // the claims grew above
		}
		if err := apply(t, kc, o); err != nil {
			t.Errorf("the second render is refused: %v", err)
		}
	}
	// Switching the engine to vLLM makes its own StatefulSet beside
	// Ollama's (the API server refuses to change a set's claim templates),
	// which Pulumi deletes once the new one is ready; the rest applies over
	// the running stage, the vLLM monitors admitted by the operator's CRDs.
	// Its pods' volumes are their own (ephemeral claims, as the backups'
	// scratch: an unbound volume each stands in for the EBS CSI driver),
	// and the HPA, with no metrics yet, holds the set at ai.replicas.
	res3, _ := run(t, vllmValues)
	dir3, _ := manifests(t, res3)
	for i := 0; i < 2*cfg.AI.Replicas; i++ {
		pv := map[string]any{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": map[string]any{"name": fmt.Sprintf("pv-vllm-%d", i)},
			"spec": map[string]any{"capacity": map[string]any{"storage": fmt.Sprintf("%dGi", cfg.Cloud.ModelStorageGB)}, "accessModes": []any{"ReadWriteOnce"},
				"storageClassName": cloud.ScratchStorageClass, "hostPath": map[string]any{"path": fmt.Sprintf("/tmp/vllm-%d", i)}, "persistentVolumeReclaimPolicy": "Retain"}}
		if err := apply(t, kc, pv); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range readObjects(t, filepath.Join(dir3, "k8s")) {
		if isPatch(o) {
			continue
		}
		if err := apply(t, kc, o); err != nil {
			t.Errorf("the render with vLLM is refused: %v", err)
		}
	}
	if code, body, err := kc.Do("DELETE", "/apis/apps/v1/namespaces/nextflow/statefulsets/"+model.PartAI, "", nil); err != nil || code >= 300 {
		t.Fatalf("delete Ollama's set: %d %v %s", code, err, body)
	}
	aiSet := "/apis/apps/v1/namespaces/nextflow/statefulsets/" + cloud.VLLMSet
	if !kc.Poll(3*time.Minute, func() bool {
		st, _ := kc.Get(t, aiSet)["status"].(map[string]any)
		return st["readyReplicas"] == float64(cfg.AI.Replicas) && st["updatedReplicas"] == float64(cfg.AI.Replicas)
	}) {
		t.Fatalf("the vLLM pods did not start: %v", kc.Get(t, aiSet)["status"])
	}
	if got := at(kc.Get(t, aiSet), "spec", "replicas"); got != float64(cfg.AI.Replicas) {
		t.Errorf("the vLLM set holds %v pods, want the HPA's floor %d", got, cfg.AI.Replicas)
	}
	vllmPods := 0
	for _, p := range kc.Get(t, "/api/v1/namespaces/nextflow/pods?labelSelector=app.kubernetes.io%2Fname%3D"+model.PartAI)["items"].([]any) {
		pm := p.(map[string]any)
		if at(pm, "metadata", "deletionTimestamp") != nil {
			continue // one of Ollama's, going
		}
		image := at(pm, "spec", "containers").([]any)[0].(map[string]any)["image"]
		gpus := at(pm, "spec", "containers").([]any)[0].(map[string]any)["resources"].(map[string]any)["limits"].(map[string]any)[cloud.GPUResource]
		pool := nodeOf[fmt.Sprint(at(pm, "spec", "nodeName"))][cloud.PoolLabel]
		if image != model.DefaultVLLMImage || gpus != "1" || pool != cloud.GPUPoolName {
			t.Errorf("AI pod %v: %v with %v GPUs on the %v pool", at(pm, "metadata", "name"), image, gpus, pool)
		}
		vllmPods++
	}
	if vllmPods != cfg.AI.Replicas {
		t.Errorf("%d vLLM pods, want %d", vllmPods, cfg.AI.Replicas)
	}
	// A clean delete: the namespaces go, with everything in them.
	for _, ns := range []string{"nextflow", "monitoring"} {
		if code, body, err := kc.Do("DELETE", "/api/v1/namespaces/"+ns, "", nil); err != nil || code >= 300 {
			t.Fatalf("delete %s: %d %v %s", ns, code, err, body)
		}
	}
	if !kc.Poll(2*time.Minute, func() bool {
		for _, ns := range []string{"nextflow", "monitoring"} {
			if code, _, _ := kc.Do("GET", "/api/v1/namespaces/"+ns, "", nil); code != 404 {
				return false
			}
		}
		return true
	}) {
		t.Error("the namespaces were not deleted")
	}
}

// The standby region's cluster on a real control plane, idle and then as a
// failover's up leaves it: idle, every workload that runs is ready on the
// general pool, and the AI (vLLM) holds no pod and no autoscaler, nor the
// tunnel a connector; the promoted render applied over it (as the same
// field manager, as an up does) hands the AI's count to its autoscaler:
// Kubernetes drops the count the render no longer sets, and once GPU nodes
// join (the Cluster Autoscaler's part, played here by adding them) the
// AI's pods run, and the tunnel's.
func TestStandbyClusterOnARealAPIServer(t *testing.T) {
	kc := kubeWithCRDs(t)
	render := func(promoted bool) []map[string]any {
		res, _ := run(t, clusterValues(promoted, model.EngineVLLM))
		dir, _ := manifests(t, res)
		return readObjects(t, filepath.Join(dir, cloud.StandbyManifests))
	}
	cfg, ds := model.Load("cloud", raw(clusterValues(false, model.EngineVLLM)), model.LoadOptions{})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	pools := *cfg
	pools.Cloud.Region, pools.Cloud.GPUDesired = cfg.Cloud.StandbyRegion, 0
	nodes(t, kc, &pools)
	idle := render(false)
	volumes(t, kc, idle)
	applyAll := func(objs []map[string]any, what string) {
		for _, o := range objs {
			if isPatch(o) {
				continue
			}
			if err := apply(t, kc, o); err != nil {
				t.Errorf("%s: refused: %v", what, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	applyAll(idle, "idle")
	type workload struct{ kind, name string }
	var workloads []workload
	for _, o := range idle {
		if o["kind"] == "Deployment" || o["kind"] == "StatefulSet" {
			workloads = append(workloads, workload{o["kind"].(string), o["metadata"].(map[string]any)["name"].(string)})
		}
	}
	state := func(w workload) (want, ready float64) {
		o := kc.Get(t, objPath(t, map[string]any{"kind": w.kind, "metadata": map[string]any{"namespace": cloud.Namespace, "name": w.name}}))
		want, _ = at(o, "spec", "replicas").(float64)
		ready, _ = at(o, "status", "readyReplicas").(float64)
		return want, ready
	}
	settled := func() bool {
		for _, w := range workloads {
			if want, ready := state(w); ready != want {
				return false
			}
		}
		return true
	}
	if !kc.Poll(3*time.Minute, settled) {
		for _, w := range workloads {
			want, ready := state(w)
			t.Errorf("idle: %s %s: %v of %v ready", w.kind, w.name, ready, want)
		}
		t.FailNow()
	}
	for _, w := range []workload{{"StatefulSet", cloud.VLLMSet}, {"Deployment", model.PartTunnel}} {
		if want, _ := state(w); want != 0 {
			t.Errorf("idle: %s %s holds %v pods", w.kind, w.name, want)
		}
	}
	if code, _, _ := kc.Do("GET", "/apis/autoscaling/v2/namespaces/nextflow/horizontalpodautoscalers/"+model.PartAI, "", nil); code != 404 {
		t.Errorf("idle: the AI has an autoscaler (%d)", code)
	}
	// Promoted: the vLLM pods' own volumes, and the GPU nodes the Cluster
	// Autoscaler would add for them.
	for i := 0; i < cfg.AI.Replicas; i++ {
		pv := map[string]any{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": map[string]any{"name": fmt.Sprintf("pv-vllm-%d", i)},
			"spec": map[string]any{"capacity": map[string]any{"storage": fmt.Sprintf("%dGi", cfg.Cloud.ModelStorageGB)}, "accessModes": []any{"ReadWriteOnce"},
				"storageClassName": cloud.ScratchStorageClass, "hostPath": map[string]any{"path": fmt.Sprintf("/tmp/vllm-%d", i)}, "persistentVolumeReclaimPolicy": "Retain"}}
		if err := apply(t, kc, pv); err != nil {
			t.Fatal(err)
		}
	}
	applyAll(render(true), "promoted")
	aiSet := workload{"StatefulSet", cloud.VLLMSet}
	if want, _ := state(aiSet); want == 0 {
		t.Fatalf("promoted: the AI's set still holds no pod: an autoscaler does not scale a target at zero")
	}
	pools.Cloud.GPUDesired = cfg.Cloud.GPUDesired
	nodes(t, kc, &pools)
	if !kc.Poll(3*time.Minute, func() bool {
		want, ready := state(aiSet)
		tunnelWant, tunnelReady := state(workload{"Deployment", model.PartTunnel})
		return want == float64(cfg.AI.Replicas) && ready == want && tunnelWant > 0 && tunnelReady == tunnelWant
	}) {
		want, ready := state(aiSet)
		tw, tr := state(workload{"Deployment", model.PartTunnel})
		t.Fatalf("promoted: AI %v of %v ready (want %d), tunnel %v of %v", ready, want, cfg.AI.Replicas, tr, tw)
	}
}
